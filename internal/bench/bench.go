//go:build unix

// Package bench measures cardbridge against raw PKCS#11 in one run, on a
// fresh SoftHSM2 token, with the scripted pinentry standing in for the
// user. Every figure over the API is printed next to its raw counterpart.
// It is run by `task bench`; the test suite has no timed assertions.
package bench

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/softhsm"
)

// Config says what to run.
type Config struct {
	Binary   string // the cardbridge binary
	Pinentry string // the scripted pinentry
	JSON     string // where to write the report
	Quick    bool   // fewer iterations, for a smoke run
}

const pin = "123456"

// Report is every figure, also written as JSON.
type Report struct {
	Machine string             `json:"machine"`
	Rows    []Row              `json:"rows"`
	Extra   map[string]float64 `json:"extra"`
}

// Row is one figure over the API and its raw counterpart.
type Row struct {
	Name   string  `json:"name"`
	API    float64 `json:"api"`
	Raw    float64 `json:"raw,omitempty"`
	Unit   string  `json:"unit"`
	Ratio  float64 `json:"ratio,omitempty"` // higher is better when Unit is a rate
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

type env struct {
	cfg     Config
	dir     string
	module  string
	serial  string
	conf    string
	origins []string
	rsaKey  string
	ecKey   string
	// extraModules are loaded besides the SoftHSM2 one (slowModuleRows).
	extraModules []string
}

// installCopy copies the binary into dir in small writes, as dpkg (10 KiB
// tar records) and cp (64 KiB) do: the page cache sizes its folios by the
// writes that filled it.
func installCopy(bin, dir string) (string, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "cardbridge")
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	for len(b) > 0 && err == nil {
		n := min(len(b), 64<<10)
		_, err = f.Write(b[:n])
		b = b[n:]
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return dst, err
}

func (e *env) daemonCmd(port int) *exec.Cmd {
	args := []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--module", e.module,
		"--pinentry", e.cfg.Pinentry, "--config", filepath.Join(e.dir, "config")}
	for _, o := range e.origins {
		args = append(args, "--allow-origin", o)
	}
	for _, m := range e.extraModules {
		args = append(args, "--module", m)
	}
	cmd := exec.Command(e.cfg.Binary, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.conf, "CB_TEST_PIN="+pin)
	return cmd
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 47199
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemon is a running cardbridge serve.
type daemon struct {
	cmd  *exec.Cmd
	port int
	log  string // its JSON log: the audit lines say where a request's time went
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		d.cmd.Process.Kill()
	}
}

// start runs the daemon and returns how long it took to accept a WebSocket.
func (e *env) start() (*daemon, time.Duration, error) {
	port := freePort()
	cmd := e.daemonCmd(port)
	logPath := filepath.Join(e.dir, fmt.Sprintf("daemon-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	defer logFile.Close() // the daemon has its own copy
	cmd.Stderr = logFile
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	d := &daemon{cmd: cmd, port: port, log: logPath}
	for time.Since(t0) < 10*time.Second {
		if c, err := dial(port, e.origins[0]); err == nil {
			took := time.Since(t0)
			c.close()
			return d, took, nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	d.stop()
	return nil, 0, fmt.Errorf("daemon did not accept connections")
}

func rssKB(pid int) float64 { return rssField(pid, "VmRSS:") }

func anonKB(pid int) float64 { return rssField(pid, "RssAnon:") }

// rssField reads a memory figure, in KiB, from /proc/PID/status.
func rssField(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func bptr(b bool) *bool { return &b }

// Run runs every measurement and prints the table.
func Run(cfg Config) (*Report, error) {
	dir, err := os.MkdirTemp("", "cardbridge-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tok, err := softhsm.Create(dir, "bench", pin, "12345678")
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, dir: dir, module: tok.Module, serial: tok.Serial, conf: tok.Conf}
	// The daemon runs from a copy written the way a package manager
	// writes it. A binary straight from the Go linker sits in 2 MB
	// page-cache folios on recent kernels (ext4 with large folios), and a
	// fault maps the whole folio, so the runtime's first touches map
	// nearly all of it: about 1.5 MB of RSS that an installed cardbridge
	// does not have. Both figures are shown.
	if e.cfg.Binary, err = installCopy(cfg.Binary, dir); err != nil {
		return nil, err
	}
	for i := 0; i < 9; i++ {
		e.origins = append(e.origins, fmt.Sprintf("https://site%d.bench.example", i))
	}
	os.Setenv("SOFTHSM2_CONF", tok.Conf)
	r := &Report{Machine: machine(), Extra: map[string]float64{}}
	if err := e.run(r); err != nil {
		return nil, err
	}
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(cfg.JSON, b, 0o644); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s, SoftHSM2", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// logSize is where the daemon's log ends now.
func (d *daemon) logSize() int64 {
	fi, err := os.Stat(d.log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// signTiming is what the audit line of one successful sign request says,
// in seconds.
type signTiming struct {
	Took  float64 `json:"took"`
	PIN   float64 `json:"pin_dialog"`
	Login float64 `json:"login"`
	Card  float64 `json:"card"`
}

// signTimings reads the audit lines of the successful sign requests
// logged after offset, in order.
func (d *daemon) signTimings(offset int64) ([]signTiming, error) {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return nil, err
	}
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	var out []signTiming
	for _, line := range bytes.Split(b[offset:], []byte("\n")) {
		var l struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
			Code   int    `json:"code"`
			signTiming
		}
		if json.Unmarshal(line, &l) != nil || l.Msg != "request" || l.Method != "sign" || l.Code != 0 {
			continue
		}
		out = append(out, l.signTiming)
	}
	return out, nil
}
