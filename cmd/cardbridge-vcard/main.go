// Command cardbridge-vcard puts a virtual PIV card (package internal/vcard)
// into a vpcd reader of pcscd until it is stopped; starting it again on the
// same --state directory puts the same card back.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cardbridge/cardbridge/internal/vcard"
)

func main() {
	addr := flag.String("vpcd", "127.0.0.1:35963", "the vpcd reader's address (35963 is the first reader of Debian's vpcd)")
	dir := flag.String("state", "", "directory with the card's keys, certificates, PINs and counters (created if missing)")
	mode := flag.String("mode", "piv", "piv, or unknown: a card that no driver knows")
	slow := flag.Duration("slow", 0, "delay every answer by this much")
	verbose := flag.Bool("v", false, "log each APDU's instruction and status word")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dir, *mode, *slow, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "cardbridge-vcard:", err)
		os.Exit(1)
	}
}

// run keeps the card in the reader until ctx ends.
func run(ctx context.Context, addr, dir, mode string, slow time.Duration, verbose bool) error {
	if dir == "" {
		return fmt.Errorf("--state DIR is required")
	}
	m, err := vcard.ParseMode(mode)
	if err != nil {
		return err
	}
	opts := vcard.Options{Mode: m, Slow: slow}
	if verbose {
		opts.Logf = log.Printf
	}
	card, err := vcard.Insert(ctx, addr, dir, opts)
	if err != nil {
		return err
	}
	log.Printf("card %d inserted into vpcd %s; stop to remove it", card.Serial(), addr)
	select {
	case <-ctx.Done():
		card.Remove()
		log.Printf("card %d removed", card.Serial())
		return nil
	case <-card.Done():
		return fmt.Errorf("the reader went away: %v", card.Err())
	}
}
