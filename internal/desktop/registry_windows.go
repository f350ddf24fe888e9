package desktop

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// The per-user registry, HKCU, through small helpers that say which key
// failed.

func setString(path, name, value string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, path, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf(`registry HKCU\%s: %w`, path, err)
	}
	defer k.Close()
	if err := k.SetStringValue(name, value); err != nil {
		return fmt.Errorf(`registry HKCU\%s: %w`, path, err)
	}
	return nil
}

// getString reads a string value; ok is false when there is none.
func getString(path, name string) (string, bool) {
	k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.QUERY_VALUE)
	if err != nil {
		return "", false
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	return v, err == nil
}

// keyHasValue reports a value of any type under path.
func keyHasValue(path, name string) bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	defer k.Close()
	_, _, err = k.GetValue(name, nil)
	return err == nil || errors.Is(err, registry.ErrShortBuffer)
}

// deleteValue removes one value; one that is not there is no error.
func deleteValue(path, name string) error {
	k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	return nil
}

// deleteKeys removes keys in order, innermost first (the registry removes
// only keys without subkeys); missing keys are no error.
func deleteKeys(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := registry.DeleteKey(registry.CURRENT_USER, p); err != nil && !errors.Is(err, registry.ErrNotExist) {
			errs = append(errs, fmt.Errorf(`HKCU\%s: %w`, p, err))
		}
	}
	return errors.Join(errs...)
}
