//go:build unix

// Command cardbridge-bench measures cardbridge against raw PKCS#11 on a
// fresh SoftHSM2 token and prints a table. See internal/bench.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cardbridge/cardbridge/internal/bench"
)

func main() {
	var cfg bench.Config
	flag.StringVar(&cfg.Binary, "binary", "bin/cardbridge", "the cardbridge binary to measure")
	flag.StringVar(&cfg.Pinentry, "pinentry", "testdata/pinentry-script", "the scripted pinentry")
	flag.StringVar(&cfg.JSON, "json", "bench.json", "where to write the JSON report")
	flag.BoolVar(&cfg.Quick, "quick", false, "fewer iterations")
	flag.Parse()
	r, err := bench.Run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cardbridge-bench:", err)
		os.Exit(1)
	}
	bench.Print(os.Stdout, r)
}
