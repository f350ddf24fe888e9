//go:build !unix

package token

// p11kitModules: p11-kit's configuration exists only on Unix.
func p11kitModules() []string { return nil }

func p11kitExcludes(string) bool { return false }
