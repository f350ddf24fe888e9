package server

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// upgradeStatus asks for a WebSocket upgrade from a separate process,
// bash with its /dev/tcp, run as uid when uid >= 0, and returns the HTTP
// status line.
func upgradeStatus(t *testing.T, port, uid int) string {
	t.Helper()
	script := `exec 3<>/dev/tcp/127.0.0.1/$1
printf 'GET /v1 HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://portal.example\r\n\r\n' "$1" >&3
head -n 1 <&3`
	args := []string{"/bin/bash", "-c", script, "bash", strconv.Itoa(port)}
	if uid >= 0 {
		args = append([]string{"setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(uid), "--clear-groups"}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args[:3], err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestOtherUsersRefused(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test runs a client as another user, which needs root")
		}
		t.Skip("needs root to run a client as another user")
	}
	for _, tool := range []string{"setpriv", "/bin/bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: %v", tool, err)
		}
	}
	d := startDaemon(t, daemonOpts{})
	if got := upgradeStatus(t, d.port, -1); !strings.Contains(got, " 101 ") {
		t.Fatalf("this user: %s", got)
	}
	if got := upgradeStatus(t, d.port, 65534); !strings.Contains(got, " 403 ") {
		t.Fatalf("uid 65534 with a forged Origin: %s", got)
	}
}

func TestProcAddr(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:47150", "0100007F:B82E"},
		{"[::1]:8080", "00000000000000000000000001000000:1F90"},
	} {
		a, err := netResolve(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := procAddr(a); got != tt.want {
			t.Errorf("procAddr(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

func netResolve(s string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", s) }
