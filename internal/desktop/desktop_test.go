package desktop

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The Windows installer ships manifests that name the binary relative to
// themselves; they must say what install writes.
func TestWindowsInstallerManifests(t *testing.T) {
	for file, want := range map[string][]byte{
		"../../installer/windows/app.cardbridge.chrome.json":  chromeManifest("cardbridge.exe"),
		"../../installer/windows/app.cardbridge.firefox.json": firefoxManifest("cardbridge.exe"),
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var got, exp map[string]any
		json.Unmarshal(b, &got)
		json.Unmarshal(want, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s = %s\nwant %s", file, b, want)
		}
	}
}
