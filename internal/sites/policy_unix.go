//go:build unix

package sites

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkPolicyOwner refuses a policy file, or a directory holding it, that
// another account could have written: owned by someone other than root
// (or, unless rootOnly, this user), or writable by group or others.
func checkPolicyOwner(f *os.File, path string, rootOnly bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if err := trustedOwner(fi, rootOnly); err != nil {
		return err
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if err := trustedOwner(dir, rootOnly); err != nil {
		return fmt.Errorf("its directory: %w", err)
	}
	return nil
}

func trustedOwner(fi os.FileInfo, rootOnly bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("owner unknown")
	}
	if st.Uid != 0 && (rootOnly || st.Uid != uint32(os.Getuid())) {
		if rootOnly {
			return fmt.Errorf("owned by uid %d, not root", st.Uid)
		}
		return fmt.Errorf("owned by uid %d, neither root nor this user", st.Uid)
	}
	// A sticky, world-writable directory (/tmp) lets others add files but
	// not replace this one, which is owned as required.
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0) {
		return fmt.Errorf("writable by other users (mode %o)", perm)
	}
	return nil
}
