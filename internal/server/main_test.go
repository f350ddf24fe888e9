package server

import (
	"os"
	"testing"

	"github.com/cardbridge/cardbridge/internal/vcard/pcsctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pcsctest.StopShared()
	os.Exit(code)
}
