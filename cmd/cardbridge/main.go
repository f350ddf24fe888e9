// Command cardbridge connects web portals to the smart cards on this
// computer. See README.md.
package main

import (
	"os"

	"github.com/cardbridge/cardbridge/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
