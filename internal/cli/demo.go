package cli

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/demo"
	"github.com/cardbridge/cardbridge/internal/democa"
	"github.com/cardbridge/cardbridge/internal/server"
	"github.com/cardbridge/cardbridge/internal/softhsm"
	"go.uber.org/zap"
)

const demoCardLabel = "cardbridge demo"

// dataDir is where cardbridge keeps files that are not settings: the demo
// card and the demo CA.
func dataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cardbridge")
	}
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "cardbridge")
		}
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "cardbridge")
	}
	return filepath.Join(home, ".local", "share", "cardbridge")
}

// runDemo starts the daemon and the demo CA portal. Without a real card it
// makes a SoftHSM2 demo card and prints its PIN.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	c.register(fs)
	portal := fs.String("portal", "127.0.0.1:47160", "loopback `ADDR` of the demo portal page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := filepath.Join(dataDir(), "demo")
	// The demo card lives in a SoftHSM2 token directory of its own.
	conf, err := softhsm.Config(filepath.Join(dir, "softhsm"))
	if err != nil {
		return err
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	var extra []string
	if m, err := softhsm.Module(); err == nil {
		extra = append(extra, m)
	}
	log := newLogger(c.debug)
	portalLn, err := server.Listen(*portal)
	if err != nil {
		return fmt.Errorf("demo portal: %w", err)
	}
	portalOrigin := "http://" + portalLn.Addr().String()
	c.origins = append(c.origins, portalOrigin)
	d, err := startDaemon(&c, log, extra...)
	if err != nil {
		portalLn.Close()
		return err
	}
	d.watch(nil)
	card, pin, err := demoCard(d, dir, extra)
	if err != nil {
		d.close()
		return err
	}
	ca, err := democa.Load(filepath.Join(dir, "ca"))
	if err != nil {
		d.close()
		return err
	}
	port := d.ln.Addr().(*net.TCPAddr).Port
	p := &demo.Portal{CA: ca, APIPorts: []int{port}}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(portalLn)
	defer srv.Close()

	fmt.Fprintf(stdout, "\n  cardbridge demo is running.\n\n")
	fmt.Fprintf(stdout, "  Demo portal:  %s\n", portalOrigin)
	fmt.Fprintf(stdout, "  cardbridge:   ws://%s/v1\n", d.Addr())
	if pin != "" {
		fmt.Fprintf(stdout, "  Demo card:    %s (SoftHSM2, no real card was found)\n  Card PIN:     %s\n", card, pin)
	} else {
		fmt.Fprintf(stdout, "  Card:         %s\n", card)
	}
	fmt.Fprintf(stdout, "\n  Open the portal in a browser and follow the steps. Press Ctrl-C to stop.\n\n")
	return d.wait()
}

// demoCard picks the card the demo uses: a real one if present, else the
// SoftHSM2 demo card, created on first run with a random PIN.
func demoCard(d *daemon, dir string, softhsmModule []string) (serial, pin string, err error) {
	var demoSerial string
	for _, r := range d.tokens.Readers() {
		if r.Card == nil {
			continue
		}
		if r.Card.Label != demoCardLabel {
			return r.Card.Serial, "", nil
		}
		demoSerial = r.Card.Serial
	}
	if len(softhsmModule) == 0 {
		return "", "", errors.New("no card is present and SoftHSM2 is missing for a demo card (apt-get install softhsm2)")
	}
	pinFile := filepath.Join(dir, "demo-card-pin.txt")
	if demoSerial != "" {
		b, err := os.ReadFile(pinFile)
		if err != nil {
			return "", "", fmt.Errorf("read the demo card's PIN: %w", err)
		}
		return demoSerial, strings.TrimSpace(string(b)), nil
	}
	pin = randomDigits(6)
	tok, err := softhsm.Create(filepath.Join(dir, "softhsm"), demoCardLabel, pin, randomDigits(8))
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		return "", "", err
	}
	// Looking the new card up makes SoftHSM2 rescan its tokens.
	if _, err := d.tokens.CardInfo(tok.Serial); err != nil {
		return "", "", err
	}
	d.log.Info("created the demo card", zap.String("token_serial", tok.Serial))
	return tok.Serial, pin, nil
}

func randomDigits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteString(d.String())
	}
	return b.String()
}
