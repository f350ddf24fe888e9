package pin

import (
	"slices"
	"testing"
)

func TestCandidates(t *testing.T) {
	for _, tt := range []struct {
		goos, desktop string
		display       bool
		first         string
	}{
		{"linux", "GNOME", true, "pinentry-gtk-2"},
		{"linux", "ubuntu:GNOME", true, "pinentry-gtk-2"},
		{"linux", "XFCE", true, "pinentry-gtk-2"},
		{"linux", "", true, "pinentry-gtk-2"},
		{"linux", "KDE", true, "pinentry-qt"},
		{"linux", "LXQt", true, "pinentry-qt"},
		{"linux", "GNOME", false, "pinentry-curses"},
		{"darwin", "", true, "pinentry-mac"},
	} {
		got := Candidates(tt.goos, tt.desktop, tt.display)
		if got[0] != tt.first || got[len(got)-1] != "pinentry" {
			t.Errorf("%s %q display=%v: %v", tt.goos, tt.desktop, tt.display, got)
		}
		if i := slices.Index(got, "pinentry-gnome3"); i >= 0 && i < slices.Index(got, "pinentry-gtk-2") {
			t.Errorf("%s %q: pinentry-gnome3 before pinentry-gtk-2: %v", tt.goos, tt.desktop, got)
		}
	}
}
