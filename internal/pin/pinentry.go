package pin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	pinentry "github.com/twpayne/go-pinentry/v4"
)

// DefaultTimeout is how long a dialog waits for the user.
const DefaultTimeout = 2 * time.Minute

// Assuan error codes (GPG_ERR_SOURCE_PINENTRY << 24 | code) that mean the
// user did not answer yes.
const (
	assuanTimeout      = 83886142 // GPG_ERR_TIMEOUT
	assuanCancelled    = 83886179 // GPG_ERR_CANCELED
	assuanNotConfirmed = 83886194 // GPG_ERR_NOT_CONFIRMED
)

// Pinentry is a Prompter backed by a GnuPG pinentry program.
type Pinentry struct {
	Path    string        // the program; see FindPinentry
	Timeout time.Duration // per dialog; DefaultTimeout when zero

	// one holds the single dialog slot; see the package doc.
	one chan struct{}
	// early holds the single slot for a program started ahead of its
	// prompt (see Prestart): a page sending requests that fail their
	// checks must not fork a process for each.
	early chan struct{}
}

// NewPinentry returns a Prompter that runs path.
func NewPinentry(path string) *Pinentry {
	return &Pinentry{Path: path, one: make(chan struct{}, 1), early: make(chan struct{}, 1)}
}

// FindPinentry returns the pinentry on PATH that fits the desktop; see
// Candidates.
func FindPinentry() (string, error) {
	for _, name := range Candidates(runtime.GOOS, os.Getenv("XDG_CURRENT_DESKTOP"), os.Getenv("DISPLAY")+os.Getenv("WAYLAND_DISPLAY") != "") {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrUnavailable
}

// GetPIN implements Prompter.
func (p *Pinentry) GetPIN(ctx context.Context, pr Prompt) (string, error) {
	var pin string
	err := p.run(ctx, pr, func(c *pinentry.Client) error {
		res, err := c.GetPIN()
		pin = res.PIN
		return err
	})
	return pin, err
}

// Confirm implements Prompter. go-pinentry reports a refusal either as
// false or as an Assuan error, depending on the program; both mean no.
func (p *Pinentry) Confirm(ctx context.Context, pr Prompt) error {
	return p.run(ctx, pr, func(c *pinentry.Client) error {
		ok, err := c.Confirm("")
		if err == nil && !ok {
			return ErrDenied
		}
		return err
	})
}

func (p *Pinentry) run(ctx context.Context, pr Prompt, fn func(*pinentry.Client) error) error {
	if p.Path == "" {
		return ErrUnavailable
	}
	timeout := p.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	early := takeEarly(ctx)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	held := false
	select {
	case p.one <- struct{}{}:
		held = true
	case <-ctx.Done():
	}
	// An ended request gets no dialog, even when the slot was free too
	// (select picks at random).
	if ctx.Err() != nil {
		if held {
			<-p.one
		}
		cancel()
		early.close()
		return ctxErr(ctx)
	}
	proc := early.process()
	proc.ctx = ctx
	opts := []pinentry.ClientOption{
		pinentry.WithBinaryName(p.Path),
		pinentry.WithProcess(proc),
		pinentry.WithTitle(orDefault(pr.Title, "cardbridge")),
		pinentry.WithDesc(pr.Description),
		pinentry.WithPrompt(orDefault(pr.Label, "PIN:")),
		pinentry.WithTimeout(timeout),
	}
	if pr.Warning != "" {
		opts = append(opts, pinentry.WithError(pr.Warning))
	}
	if pr.OK != "" {
		opts = append(opts, pinentry.WithOK(pr.OK))
	}
	if pr.Cancel != "" {
		opts = append(opts, pinentry.WithCancel(pr.Cancel))
	}
	if pr.Repeat != "" {
		opts = append(opts, pinentry.WithRepeat(pr.Repeat), pinentry.WithRepeatError("The PINs do not match"))
	}
	// A terminal pinentry needs to know which terminal to draw on.
	if tty := ttyName(); tty != "" {
		opts = append(opts, pinentry.WithOption(pinentry.OptionTTYName+"="+tty))
		if term := os.Getenv("TERM"); term != "" {
			opts = append(opts, pinentry.WithOption(pinentry.OptionTTYType+"="+term))
		}
	}
	c, err := pinentry.NewClient(opts...)
	if err != nil {
		err = mapErr(ctx, fmt.Errorf("start pinentry %s: %w", filepath.Base(p.Path), err))
		cancel()
		<-p.one
		return err
	}
	err = mapErr(ctx, fn(c))
	// The answer is in. Saying BYE and waiting for the program to exit
	// need not hold up the caller (about 0.2 ms, longer for a graphical
	// pinentry); the dialog slot stays taken until it has exited, so
	// that dialogs still never overlap.
	// A program that answered but will not exit is killed after
	// closeGrace rather than holding the slot until the dialog deadline.
	go func() {
		kill := time.AfterFunc(closeGrace, cancel)
		c.Close()
		kill.Stop()
		cancel()
		<-p.one
	}()
	return err
}

// closeGrace is how long a pinentry has to exit after its last answer.
var closeGrace = 5 * time.Second

// Prestart starts the pinentry program for a prompt that is likely to
// follow, so that its start-up overlaps the checks made before the prompt
// (about a millisecond for a small pinentry, far more for a graphical
// one). The next GetPIN or Confirm made with the returned context uses it.
// No window shows until then: a pinentry draws nothing before it is asked
// something. stop ends the program if no prompt took it, and must always
// be called. At most one program waits like this at a time; further calls
// start nothing.
func (p *Pinentry) Prestart(ctx context.Context) (_ context.Context, stop func()) {
	if p.Path == "" || p.early == nil {
		return ctx, func() {}
	}
	select {
	case p.early <- struct{}{}:
	default:
		return ctx, func() {}
	}
	e := &early{ready: make(chan struct{}), proc: &process{}, slot: p.early}
	// exec.Cmd.Start waits for the child to exec, so it runs beside the
	// caller rather than in its way.
	go func() {
		defer close(e.ready)
		e.err = e.proc.spawn(p.Path)
	}()
	stop = func() {
		if e.taken.CompareAndSwap(false, true) {
			e.close()
		}
	}
	return context.WithValue(ctx, earlyKey{}, e), stop
}

// early is a pinentry program started by Prestart.
type early struct {
	ready chan struct{} // closed once the program has started or failed to
	proc  *process
	err   error
	slot  chan struct{} // Pinentry.early, emptied when the program is taken or gone
	taken atomic.Bool
}

type earlyKey struct{}

// takeEarly returns the program Prestart started for ctx, if no prompt has
// taken it yet.
func takeEarly(ctx context.Context) *early {
	e, _ := ctx.Value(earlyKey{}).(*early)
	if e == nil || !e.taken.CompareAndSwap(false, true) {
		return nil
	}
	return e
}

// process returns the started program for a prompt, or a process to start
// when there is none.
func (e *early) process() *process {
	if e == nil {
		return &process{}
	}
	<-e.ready
	<-e.slot
	if e.err != nil {
		return &process{}
	}
	return e.proc
}

// close ends a program no prompt will use; pinentry exits when its input
// closes. It does not wait for that.
func (e *early) close() {
	if e == nil {
		return
	}
	go func() {
		<-e.ready
		if e.err == nil {
			e.proc.Close()
		}
		<-e.slot
	}()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return fmt.Errorf("%w: %w", ErrCancelled, ctx.Err())
}

// mapErr turns what go-pinentry returns into our errors. A dialog whose
// context ended was killed; that decides over whatever the pipe said.
func mapErr(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrDenied) {
		return err
	}
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	var ae *pinentry.AssuanError
	if errors.As(err, &ae) {
		switch ae.Code {
		case assuanTimeout:
			return ErrTimeout
		case assuanCancelled:
			return ErrCancelled
		case assuanNotConfirmed:
			return ErrDenied
		}
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// ttyName is the terminal the daemon was started from, if any, so that
// pinentry-curses can draw on it: GPG_TTY when set, as GnuPG does.
func ttyName() string {
	if t := os.Getenv("GPG_TTY"); t != "" {
		return t
	}
	if t, err := os.Readlink("/proc/self/fd/0"); err == nil && (strings.HasPrefix(t, "/dev/pts/") || strings.HasPrefix(t, "/dev/tty")) {
		return t
	}
	return ""
}

// process runs pinentry tied to a context: when the context ends (the page
// went away, or the deadline passed) the dialog is killed. A process
// spawned by Prestart is tied to its context only when a prompt takes it.
type process struct {
	ctx    context.Context
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    io.Closer
	stdout *bufio.Reader
	stop   func() bool
}

func (p *process) spawn(name string) error {
	p.cmd = exec.Command(name)
	ownProcessGroup(p.cmd)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	p.out, p.stdout = out, bufio.NewReader(out)
	return p.cmd.Start()
}

// Start implements pinentry.Process. go-pinentry passes no arguments, as
// none are configured.
func (p *process) Start(name string, _ []string) error {
	if p.cmd == nil {
		if err := p.spawn(name); err != nil {
			return err
		}
	}
	// Killing the program may leave a child of its holding the pipe open,
	// and a read blocked on it; so close the pipe as well.
	p.stop = context.AfterFunc(p.ctx, func() {
		killProcessGroup(p.cmd)
		p.out.Close()
	})
	return nil
}

func (p *process) ReadLine() ([]byte, bool, error) { return p.stdout.ReadLine() }

func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

func (p *process) Close() error {
	p.stdin.Close()
	err := p.cmd.Wait()
	if p.stop != nil {
		p.stop()
	}
	return err
}
