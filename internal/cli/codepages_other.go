//go:build !linux

package cli

// releaseCodePages is Linux-only: other systems' accounting of a
// program's image differs, and they trim working sets themselves.
func releaseCodePages() int64 { return 0 }
