package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cardbridge/cardbridge/internal/p12"
	"github.com/cardbridge/cardbridge/internal/rpc"
)

// runImportP12 puts a .p12/.pfx bundle onto a card from the command line,
// with the same dialogs as the pkcs12.import method.
func runImportP12(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import-p12", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cardbridge import-p12 [flags] FILE.p12\n\nPuts the key, certificate and CA certificates of a PKCS#12 bundle onto a card.\nThe bundle's password and the card's PIN are asked for in a pinentry dialog.\n\nFlags:")
		fs.PrintDefaults()
	}
	var modules listFlag
	fs.Var(&modules, "module", "PKCS#11 module `PATH` to load (repeatable); default: auto-discovery")
	card := fs.String("card", "", "`SERIAL` of the card; default: the only card present")
	label := fs.String("label", "", "`LABEL` for the key; default: the certificate's common name")
	pinentryPath := fs.String("pinentry", "", "pinentry program `PATH`; default: from PATH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("name one bundle file")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(data) > p12.MaxSize {
		return fmt.Errorf("%s is larger than %d KiB; is it a PKCS#12 bundle?", fs.Arg(0), p12.MaxSize>>10)
	}
	prompter, err := importPrompter(*pinentryPath)
	if err != nil {
		return err
	}
	m, err := openTokens(modules)
	if err != nil {
		return err
	}
	defer m.Close()
	reader, err := m.CardInfo(*card)
	if err != nil {
		return err
	}
	svc := rpc.New(rpc.Config{Tokens: m, Prompter: prompter})
	res, err := svc.ImportPKCS12(context.Background(), rpc.Caller{Origin: "cardbridge import-p12", Via: "command line"}, reader.Card.Serial, data, *label)
	if err != nil {
		return fmt.Errorf("import %s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "Stored %s key %s for %q (valid until %s) and %d CA certificate(s) on card %s.\n",
		res.Algorithm, res.KeyID, res.Subject, res.NotAfter, res.Chain, reader.Card.Serial)
	return nil
}
