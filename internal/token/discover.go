package token

import "path/filepath"

// Discover lists the PKCS#11 modules installed on this machine, as specs
// for Options ("PATH" or "PATH;ARGS"), each library once, however many
// names it has. Where it looks depends on the system (discover_unix.go,
// discover_windows.go); it never looks in a folder an ordinary user of
// another account could write, as a module found there would run in
// cardbridge with the user's cards.
func Discover() []string {
	return dedupe(discover())
}

// dedupe keeps the first path of each distinct library file, so that one
// library reached through a symlink is not loaded twice.
func dedupe(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(ModulePath(p))
		if err != nil {
			real = ModulePath(p)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}
