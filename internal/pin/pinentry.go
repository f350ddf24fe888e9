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
}

// NewPinentry returns a Prompter that runs path.
func NewPinentry(path string) *Pinentry {
	return &Pinentry{Path: path, one: make(chan struct{}, 1)}
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
		return ctxErr(ctx)
	}
	// The deadline runs from here, when the dialog shows: time spent
	// waiting for the slot is not the user's time to answer.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	proc := &process{ctx: ctx}
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
// went away, or the deadline passed) the dialog is killed.
type process struct {
	ctx    context.Context
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    io.Closer
	stdout *bufio.Reader
	stop   func() bool
}

// Start implements pinentry.Process. go-pinentry passes no arguments, as
// none are configured.
func (p *process) Start(name string, _ []string) error {
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
	if err := p.cmd.Start(); err != nil {
		return err
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
