//go:build unix

// Package pcsctest gives a test its own pcscd with vpcd readers, for virtual
// cards (package vcard) that real PC/SC clients (OpenSC, ykcs11,
// yubico-piv-tool) use.
//
// pcscd 1.9 always serves /run/pcscd/pcscd.comm and refuses to start when
// another pcscd owns it, so Start runs it in a mount namespace of its own
// (unshare) where /run/pcscd is a directory of the test. Clients find it
// through PCSCLITE_CSOCK_NAME:
//   - a tool run with exec gets Env() as its environment;
//   - a PKCS#11 module loaded into the test process (opensc-pkcs11.so,
//     libykcs11.so) talks through libpcsclite, which reads
//     PCSCLITE_CSOCK_NAME from the process environment once, at its first
//     use, and keeps it: such tests share one pcscd per test binary, Shared,
//     which sets the variable before any module is loaded.
//
// The readers are named "Yubico YubiKey vcard N 00 S": ykcs11 2.2 ignores
// readers whose name does not start with "Yubico", and yubico-piv-tool looks
// for "Yubikey" unless given -r. Their vpcd ports are free ports picked at
// start, never the default 35963.
//
// Without pcscd, vpcd or unshare the test is skipped; with
// CARDBRIDGE_REQUIRE_PCSC=1 or CI=true it fails instead.
package pcsctest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard"
)

// Reader is one vpcd reader slot of the test's pcscd.
type Reader struct {
	Name string // PC/SC reader name
	Addr string // where a card connects: 127.0.0.1:port
}

// PCSC is a running private pcscd.
type PCSC struct {
	Socket  string // the value of PCSCLITE_CSOCK_NAME
	Readers []Reader
	cmd     *exec.Cmd
	log     *logBuf
	slots   []slot
	stop    func()
}

// vpcdSlots is how many readers one vpcd reader.conf entry makes (ports P
// and P+1 in Debian's build).
const vpcdSlots = 2

// Start starts a pcscd with at least n vpcd readers and stops it when the test
// ends. For tools run with exec; a test that loads a PKCS#11 module into its
// own process needs Shared.
func Start(t testing.TB, n int) *PCSC {
	t.Helper()
	pcscd, driver, err := find()
	if err != nil {
		Missing(t, err)
	}
	var last error
	for try := 0; try < 3; try++ { // a port taken between picking and binding: pick again
		p, err := start(pcscd, driver, n)
		if err == nil {
			t.Cleanup(p.stop)
			return p
		}
		last = err
	}
	t.Fatalf("pcsctest: %v", last)
	return nil
}

// SharedReaders is how many readers the Shared pcscd has.
const SharedReaders = 4

var shared struct {
	sync.Mutex
	p *PCSC
}

// Shared is one pcscd for the whole test binary, for tests that load a
// PKCS#11 module (OpenSC, ykcs11) into the test process: libpcsclite reads
// PCSCLITE_CSOCK_NAME once per process, so all of them must talk to the
// same pcscd. The first call starts it with SharedReaders readers and sets
// PCSCLITE_CSOCK_NAME for the process; it runs until StopShared (call it
// from TestMain after m.Run) or until the binary exits. Each test still puts
// its own cards in (Insert) and they leave when it ends.
func Shared(t testing.TB) *PCSC {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.p != nil {
		return shared.p
	}
	pcscd, driver, err := find()
	if err != nil {
		Missing(t, err)
	}
	var last error
	for try := 0; try < 3; try++ {
		p, err := start(pcscd, driver, SharedReaders)
		if err == nil {
			os.Setenv("PCSCLITE_CSOCK_NAME", p.Socket)
			shared.p = p
			return p
		}
		last = err
	}
	t.Fatalf("pcsctest: %v", last)
	return nil
}

// StopShared stops the Shared pcscd, if one was started.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.p != nil {
		shared.p.stop()
		shared.p = nil
	}
}

// Missing skips the test for a missing PC/SC part, or fails it when
// CARDBRIDGE_REQUIRE_PCSC=1 or CI=true.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CARDBRIDGE_REQUIRE_PCSC") != "" || os.Getenv("CI") == "true" {
		t.Fatalf("pcscd and vpcd are required here: %v", err)
	}
	t.Skipf("pcscd/vpcd missing (apt install pcscd vsmartcard-vpcd): %v", err)
}

// Env is this process's environment with PCSCLITE_CSOCK_NAME pointing at the
// test's pcscd, for exec.Cmd.Env.
func (p *PCSC) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PCSCLITE_CSOCK_NAME=") {
			env = append(env, kv)
		}
	}
	return append(env, "PCSCLITE_CSOCK_NAME="+p.Socket)
}

// Insert puts a card with its state in stateDir into reader i, waits until
// pcscd has seen it, and removes it when the test ends. pcscd polls every
// 400 ms, and a card that takes another's place between two polls goes
// unnoticed (no removal, no insertion, no power-on): so when reader i held a
// card, Insert first waits until pcscd has logged its removal.
func (p *PCSC) Insert(t testing.TB, i int, stateDir string, opts vcard.Options) *vcard.Card {
	t.Helper()
	name := p.Readers[i].Name
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if prev := p.slots[i]; prev.card != nil {
		select {
		case <-prev.card.Done():
		default:
			t.Fatalf("pcsctest: %s still holds a card", name)
		}
		if !p.waitLog(ctx, func() bool { return p.log.count(removedFrom+name) > prev.removals }) {
			t.Fatalf("pcsctest: pcscd did not notice the removal from %s; pcscd log:\n%s", name, p.log)
		}
	}
	removals := p.log.count(removedFrom + name)
	c, err := vcard.Insert(ctx, p.Readers[i].Addr, stateDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Remove)
	p.slots[i] = slot{card: c, removals: removals}
	select {
	case <-c.Seen():
	case <-ctx.Done():
		t.Fatalf("pcsctest: pcscd did not see the card in %s; pcscd log:\n%s", name, p.log)
	}
	// pcscd tells its clients right after reading the ATR; give it that
	// moment before a client connects.
	time.Sleep(50 * time.Millisecond)
	return c
}

// Remove pulls the card out of reader i and waits until pcscd noticed.
func (p *PCSC) Remove(t testing.TB, i int) {
	t.Helper()
	cur := p.slots[i]
	if cur.card == nil {
		return
	}
	cur.card.Remove()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := p.Readers[i].Name
	if !p.waitLog(ctx, func() bool { return p.log.count(removedFrom+name) > cur.removals }) {
		t.Fatalf("pcsctest: pcscd did not notice the removal from %s; pcscd log:\n%s", name, p.log)
	}
	p.slots[i] = slot{}
}

// Removals counts the removals pcscd noticed in reader i so far. A card put
// into a reader (by a process of its own, say) must wait until pcscd noticed
// the last one leave.
func (p *PCSC) Removals(i int) int { return p.log.count(removedFrom + p.Readers[i].Name) }

// slot is what the harness knows of a reader's card.
type slot struct {
	card     *vcard.Card
	removals int // "Card Removed From" lines of the reader before this card
}

// removedFrom starts pcscd's info line for a card leaving a reader (pcsc-lite
// eventhandler.c). Its line for a card coming in is not logged for a card
// already there when the reader starts, so insertion is seen from the card.
const removedFrom = "Card Removed From "

func (p *PCSC) waitLog(ctx context.Context, ok func() bool) bool {
	for !ok() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// Log is what pcscd printed so far (info level), for failure messages.
func (p *PCSC) Log() string { return p.log.String() }

// unshareArgs make the mount namespace: as root "--mount" alone; else, or
// where root may not mount (a container without CAP_SYS_ADMIN), inside a user
// namespace of its own.
var unshareArgs []string

func find() (pcscd, driver string, err error) {
	if unshareArgs == nil {
		var tried []string
		for _, args := range [][]string{{"--mount"}, {"--mount", "--map-root-user"}} {
			if os.Geteuid() != 0 && len(args) == 1 {
				continue
			}
			out, err := exec.Command("unshare", append(args, "sh", "-c", "mount -t tmpfs tmpfs /mnt")...).CombinedOutput()
			if err == nil {
				unshareArgs = args
				break
			}
			tried = append(tried, fmt.Sprintf("unshare %s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(string(out))))
		}
		if unshareArgs == nil {
			return "", "", fmt.Errorf("no mount namespace for a private pcscd: %s", strings.Join(tried, "; "))
		}
	}
	pcscd, err = exec.LookPath("pcscd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/pcscd"); e != nil {
			return "", "", err
		}
		pcscd = "/usr/sbin/pcscd"
	}
	for _, d := range []string{"/usr/lib/pcsc/drivers/serial", "/usr/lib64/pcsc/drivers/serial", "/usr/local/lib/pcsc/drivers/serial"} {
		if _, err := os.Stat(filepath.Join(d, "libifdvpcd.so")); err == nil {
			return pcscd, filepath.Join(d, "libifdvpcd.so"), nil
		}
	}
	return "", "", errors.New("libifdvpcd.so (vsmartcard-vpcd) not found")
}

// freeBase finds a port P with P..P+vpcdSlots-1 free on every address (vpcd
// listens on all of them).
func freeBase() (int, error) {
	for try := 0; try < 20; try++ {
		var ls []net.Listener
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		ls = append(ls, l)
		base := l.Addr().(*net.TCPAddr).Port
		ok := base+vpcdSlots <= 65535
		for i := 1; ok && i < vpcdSlots; i++ {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(base+i))
			ok = err == nil
			if ok {
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no free port range for vpcd")
}

var (
	reStartup = regexp.MustCompile(`Attempting startup of (.+) using `)
	rePort    = regexp.MustCompile(`Waiting for virtual ICC on port (\d+)`)
)

func start(pcscd, driver string, n int) (*PCSC, error) {
	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "pcsctest")
	if err != nil {
		return nil, err
	}
	run := filepath.Join(dir, "run")
	conf := filepath.Join(dir, "reader.conf")
	var b strings.Builder
	for i := 0; i*vpcdSlots < n; i++ {
		base, err := freeBase()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		lib := driver
		if i > 0 {
			// vpcd keeps its readers in a static array indexed by slot, so
			// a second entry on the same library takes over the first's
			// slots. A copy is a library of its own for dlopen.
			lib = filepath.Join(dir, fmt.Sprintf("libifdvpcd-%d.so", i))
			if err := copyFile(driver, lib); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		fmt.Fprintf(&b, "FRIENDLYNAME \"Yubico YubiKey vcard %d\"\nDEVICENAME /dev/null:%d\nLIBPATH %s\nCHANNELID %d\n\n", i, base, lib, base)
	}
	if err := os.Mkdir(run, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append([]string{}, unshareArgs...)
	// The shell stays to watch the test binary: one that ends without
	// stopping its pcscd (killed at its timeout, or a Shared one) takes the
	// pcscd along within a second.
	script := `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd || exit 1
"$2" --foreground --info --config "$3" &
pcscd=$!
trap 'kill $pcscd 2>/dev/null; wait $pcscd; exit 0' TERM INT
while kill -0 "$4" 2>/dev/null && kill -0 $pcscd 2>/dev/null; do sleep 1 & wait $!; done
kill $pcscd 2>/dev/null
wait $pcscd
rm -rf "$5"`
	args = append(args, "sh", "-c", script, "sh", run, pcscd, conf, strconv.Itoa(os.Getpid()), dir)
	cmd := exec.Command("unshare", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	p := &PCSC{Socket: filepath.Join(run, "pcscd.comm"), cmd: cmd, log: &logBuf{}}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start pcscd: %w", err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	go p.read(out, ready, exited)
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		os.RemoveAll(dir)
	}
	select {
	case <-ready:
	case <-exited:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pcscd exited at start:\n%s", p.log)
	case <-time.After(10 * time.Second):
		stop()
		return nil, fmt.Errorf("pcscd not ready after 10 s:\n%s", p.log)
	}
	p.Readers = p.log.readers()
	p.slots = make([]slot, len(p.Readers))
	if len(p.Readers) < n {
		stop()
		return nil, fmt.Errorf("pcscd made %d vpcd readers, want %d:\n%s", len(p.Readers), n, p.log)
	}
	p.stop = stop
	return p, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// read copies pcscd's output into the log until it exits, and says when the
// daemon is ready.
func (p *PCSC) read(out interface{ Read([]byte) (int, error) }, ready, exited chan struct{}) {
	sc := bufio.NewScanner(out)
	once := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		p.log.add(line)
		if strings.Contains(line, "daemon ready") {
			once.Do(func() { close(ready) })
		}
	}
	p.cmd.Wait()
	close(exited)
}

// logBuf keeps pcscd's output, and the readers it made in the order made.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 100000 {
		l.lines = append(l.lines, s)
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// count counts the lines ending in suffix.
func (l *logBuf) count(suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasSuffix(s, suffix) {
			n++
		}
	}
	return n
}

// readers pairs each "Attempting startup of NAME" with the vpcd port logged
// after it; a reader whose port could not be bound has none and is left out.
func (l *logBuf) readers() []Reader {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rs []Reader
	name := ""
	for _, s := range l.lines {
		if m := reStartup.FindStringSubmatch(s); m != nil {
			name = m[1]
		} else if m := rePort.FindStringSubmatch(s); m != nil && name != "" {
			rs = append(rs, Reader{Name: name, Addr: "127.0.0.1:" + m[1]})
			name = ""
		}
	}
	return rs
}
