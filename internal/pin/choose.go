package pin

import "strings"

// Candidates lists the pinentry programs to try, best first, for an
// operating system, a desktop (XDG_CURRENT_DESKTOP) and whether a display
// is there.
//
// On Linux the choice is pinentry-gtk-2, or pinentry-qt on Qt desktops
// (KDE Plasma, LXQt), because they show what cardbridge sends as it is
// meant: the window title "cardbridge", our own field label ("PIN:",
// "PUK:"), Allow/Deny on the consent question, and a description that
// wraps inside a window of normal width. pinentry-gnome3 comes after
// them: it hands the prompt to GNOME's system prompter (gcr), which titles
// every dialog with the field label, labels the field "Password:" whatever
// it is asked, heads the yes/no consent dialog "PIN:" too, and does not
// wrap the description, so a dialog grew to 1230 px. Without a display a
// terminal pinentry is first; the plain "pinentry" (the system's choice)
// is the last resort everywhere.
func Candidates(goos, desktop string, display bool) []string {
	switch goos {
	case "darwin":
		return []string{"pinentry-mac", "pinentry"}
	case "windows":
		return []string{"pinentry-qt", "pinentry-w32", "pinentry"}
	}
	if !display {
		return []string{"pinentry-curses", "pinentry-tty", "pinentry"}
	}
	gui := []string{"pinentry-gtk-2", "pinentry-qt"}
	if qtDesktop(desktop) {
		gui = []string{"pinentry-qt", "pinentry-gtk-2"}
	}
	return append(gui, "pinentry-gnome3", "pinentry-curses", "pinentry")
}

// qtDesktop reports a desktop built on Qt. XDG_CURRENT_DESKTOP is a
// colon-separated list, such as "ubuntu:GNOME".
func qtDesktop(desktop string) bool {
	for _, d := range strings.Split(strings.ToUpper(desktop), ":") {
		switch d {
		case "KDE", "LXQT", "DEEPIN", "UKUI":
			return true
		}
	}
	return false
}
