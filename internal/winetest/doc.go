// Package winetest runs the Windows build of cardbridge under Wine, on a
// Linux machine under Xvfb: the commands, the daemon driven over its
// WebSocket with its Windows dialogs answered through xdotool, the native
// messaging relay over the named pipe, install and uninstall against the
// registry, the MSI through msiexec, the tray, and the unit tests of the
// portable packages. `task test:windows` builds what it needs and runs it;
// see README.md, "Windows", for what Wine cannot show.
package winetest
