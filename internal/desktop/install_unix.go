//go:build linux || darwin

package desktop

// finishInstall is what Install does last on Linux and macOS alike: start
// at login, and the browsers' native-messaging manifests.
func finishInstall(o Options, steps []Step) ([]Step, error) {
	where, err := SetAutostart(o, true)
	if err != nil {
		return steps, err
	}
	steps = append(steps, Step{"start at login", where})
	chrome, firefox := nativeHostDirs(o)
	more, err := writeNativeHosts(chrome, firefox, o.Exe)
	return append(steps, more...), err
}
