//go:build !windows

package cli

// terminalColours: terminals here take ANSI colour codes.
const terminalColours = true

// stderrUsable: a Unix daemon always has a stderr worth writing to (the
// journal, a file or /dev/null by choice).
func stderrUsable() bool { return true }
