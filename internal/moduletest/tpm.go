package moduletest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TPMToken is a token to create on the software TPM.
type TPMToken struct {
	Label, PIN, SOPIN string
}

// NewTPM starts a software TPM (swtpm) on free loopback ports, points
// tpm2-pkcs11 at it and at a store in a temp dir (through this test's
// environment), and creates the tokens. tpm2-pkcs11 gives every token of
// one TPM the same serial. It returns the module's path.
//
// tpm2_ptool makes the primary key; the tokens are made through the
// module itself (C_InitToken, C_InitPIN with pkcs11-tool), which frees
// the TPM's object slots as it goes, so no resource manager (tpm2-abrmd)
// is needed.
func NewTPM(t testing.TB, tokens ...TPMToken) string {
	t.Helper()
	need(t, "swtpm", "tpm2_ptool", "tpm2_flushcontext", "pkcs11-tool")
	lib := findLib(t, "tpm2-pkcs11", "pkcs11/libtpm2_pkcs11.so", "libtpm2_pkcs11.so.1")
	state, store := t.TempDir(), t.TempDir()
	var tcti string
	for try := 0; ; try++ {
		// The swtpm TCTI finds the control channel on the next port.
		port := freePort(t)
		ctrl := port + 1
		cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ctrl),
			"--flags", "not-need-init,startup-clear")
		if err := cmd.Start(); err != nil {
			Missing(t, "swtpm", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
		if waitPort(port, done) {
			tcti = "swtpm:host=127.0.0.1,port=" + strconv.Itoa(port)
			break
		}
		if try == 3 {
			t.Fatal("swtpm did not start")
		}
	}
	t.Setenv("TPM2TOOLS_TCTI", tcti)
	t.Setenv("TPM2_PKCS11_TCTI", tcti)
	t.Setenv("TPM2_PKCS11_STORE", store)
	t.Setenv("TPM2_PKCS11_LOG_LEVEL", "0")
	t.Setenv("TSS2_LOG", "all+NONE") // the wrong PINs the tests try are expected
	run(t, "tpm2_ptool", "init", "--path", store)
	run(t, "tpm2_flushcontext", "-t")
	for i, tok := range tokens {
		run(t, "pkcs11-tool", "--module", lib, "--slot-index", strconv.Itoa(i), "--init-token", "--label", tok.Label, "--so-pin", tok.SOPIN)
		run(t, "pkcs11-tool", "--module", lib, "--token-label", tok.Label, "--init-pin", "--so-pin", tok.SOPIN, "--pin", tok.PIN)
	}
	return lib
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPort waits until the port accepts, or the process has exited.
func waitPort(port int, exited <-chan struct{}) bool {
	for i := 0; i < 100; i++ {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
