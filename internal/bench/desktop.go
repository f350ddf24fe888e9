//go:build unix

package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
)

// privateRuntime gives the daemons of one measurement their own control
// socket, so that they never meet a cardbridge the user runs.
func (e *env) privateRuntime() (restore func(), err error) {
	dir, err := os.MkdirTemp(e.dir, "run-")
	if err != nil {
		return nil, err
	}
	old, had := os.LookupEnv("XDG_RUNTIME_DIR")
	os.Setenv("XDG_RUNTIME_DIR", dir)
	return func() {
		if had {
			os.Setenv("XDG_RUNTIME_DIR", old)
		} else {
			os.Unsetenv("XDG_RUNTIME_DIR")
		}
	}, nil
}

func stopByPing() {
	if r, err := control.Ping(); err == nil && r.PID > 0 {
		syscall.Kill(r.PID, syscall.SIGTERM)
		for i := 0; i < 200 && syscall.Kill(r.PID, 0) == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// linkToAnswer measures `cardbridge open cardbridge://start` with nothing
// running, to the first system.info answer on the WebSocket.
func (e *env) linkToAnswer() (time.Duration, error) {
	restore, err := e.privateRuntime()
	if err != nil {
		return 0, err
	}
	defer restore()
	defer stopByPing()
	port := freePort()
	cmd := exec.Command(e.cfg.Binary, "open", "cardbridge://start")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.conf, "CARDBRIDGE_PINENTRY="+e.cfg.Pinentry, "DISPLAY=", "WAYLAND_DISPLAY=",
		"XDG_STATE_HOME="+filepath.Join(e.dir, "state"), "CARDBRIDGE_LISTEN=127.0.0.1:"+strconv.Itoa(port))
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	for time.Since(t0) < 10*time.Second {
		if c, err := dial(port, e.origins[0]); err == nil {
			err = c.call("system.info", nil, nil)
			c.close()
			if err == nil {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, os.ErrDeadlineExceeded
}

// idleMem is what an idle tray holds.
type idleMem struct{ rss, anon float64 } // KB

// trayIdle runs the tray under a private D-Bus session, polling its card
// as it does all day, and returns the highest RSS and anonymous memory seen
// over window, from 5 s after start (start-up itself is measured apart).
func (e *env) trayIdle(bin string, window time.Duration) (idleMem, error) {
	var peak idleMem
	if _, err := exec.LookPath("dbus-run-session"); err != nil {
		return peak, err
	}
	restore, err := e.privateRuntime()
	if err != nil {
		return peak, err
	}
	defer restore()
	cmd := exec.Command("dbus-run-session", "--", bin, "tray", "--listen", "127.0.0.1:"+strconv.Itoa(freePort()),
		"--module", e.module, "--pinentry", e.cfg.Pinentry, "--config", filepath.Join(e.dir, "config"))
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.conf)
	if err := cmd.Start(); err != nil {
		return peak, err
	}
	defer func() { stopByPing(); cmd.Process.Kill(); cmd.Wait() }()
	var pid int
	for t0 := time.Now(); time.Since(t0) < 10*time.Second && pid == 0; time.Sleep(20 * time.Millisecond) {
		if r, err := control.Ping(); err == nil {
			pid = r.PID
		}
	}
	if pid == 0 {
		return peak, os.ErrDeadlineExceeded
	}
	time.Sleep(5 * time.Second)
	for t0 := time.Now(); time.Since(t0) < window; time.Sleep(time.Second) {
		peak.rss = max(peak.rss, rssKB(pid))
		peak.anon = max(peak.anon, anonKB(pid))
	}
	return peak, nil
}
