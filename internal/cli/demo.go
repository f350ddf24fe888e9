package cli

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/daemon"
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
	// tpm2-pkcs11, registered with p11-kit on many systems, writes a dozen
	// lines to stderr at start when there is no TPM, burying the banner;
	// cardbridge's own log says in one line that the module was skipped.
	// Users who set these themselves keep their choice.
	for k, v := range map[string]string{"TSS2_LOG": "all+NONE", "TPM2_PKCS11_LOG_LEVEL": "0"} {
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
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
	// The portal is not allowed in advance: the first visit shows the
	// consent dialog ("Allow … to use your cards?"), as a real portal's does.
	d, err := startDaemon(&c, log, extra...)
	if err != nil {
		portalLn.Close()
		return err
	}
	d.Watch(nil)
	card, pin, err := demoCard(d, dir, extra)
	if err != nil {
		d.Close()
		return err
	}
	ca, err := democa.Load(filepath.Join(dir, "ca"))
	if err != nil {
		d.Close()
		return err
	}
	port := d.Port()
	p := &demo.Portal{CA: ca, APIPorts: []int{port}, Card: card}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(portalLn)
	defer srv.Close()

	fmt.Fprintf(stdout, "\n  cardbridge demo is running.\n\n")
	fmt.Fprintf(stdout, "  Demo portal:  %s\n", portalOrigin)
	fmt.Fprintf(stdout, "  cardbridge:   ws://%s/v1\n", d.Addr())
	fmt.Fprintf(stdout, "  Demo card:    %s (SoftHSM2, label %q)\n", card, demoCardLabel)
	fmt.Fprintf(stdout, "  Card PIN:     %s\n", pin)
	fmt.Fprintf(stdout, "                (the PIN the demo set; if you have changed it, yours)\n")
	if others := otherCards(d, card); len(others) > 0 {
		fmt.Fprintf(stdout, "  Other cards:  %s (the pages let you choose; they start with the demo card)\n", strings.Join(others, ", "))
	}
	fmt.Fprintf(stdout, "\n  Open the portal in a browser and follow the steps. Press Ctrl-C to stop.\n\n")
	return d.Wait()
}

// demoCard finds the demo's own SoftHSM2 card, or makes it on first run
// with a random PIN. It never takes another card: a real card's PIN is
// not the demo's to print, and the portal would use one card while the
// banner named another.
func demoCard(d *daemon.Daemon, dir string, softhsmModule []string) (serial, pin string, err error) {
	if len(softhsmModule) == 0 {
		return "", "", errors.New("the demo card needs SoftHSM2 (apt-get install softhsm2)")
	}
	var demoSerial string
	for _, r := range d.Tokens().Readers() {
		// SOFTHSM2_CONF points at the demo's own token directory, so a
		// SoftHSM2 card with the demo's label is the demo's.
		if r.Card != nil && r.Card.Label == demoCardLabel && filepath.Base(r.Module) == filepath.Base(softhsmModule[0]) {
			demoSerial = r.Card.Serial
		}
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
	if _, err := d.Tokens().CardInfo(tok.Serial); err != nil {
		return "", "", err
	}
	d.Log().Info("created the demo card", zap.String("token_serial", tok.Serial))
	return tok.Serial, pin, nil
}

// otherCards lists the card numbers of every card but the demo's.
func otherCards(d *daemon.Daemon, demoSerial string) []string {
	var out []string
	for _, r := range d.Tokens().Readers() {
		if r.Card != nil && r.Card.Serial != demoSerial {
			out = append(out, r.Card.Serial)
		}
	}
	return out
}

func randomDigits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteString(d.String())
	}
	return b.String()
}
