// Package softhsmtest gives each test a fresh SoftHSM2 token in a temp dir.
//
// When SoftHSM2 is missing the test is skipped on a developer's machine and
// fails when CARDBRIDGE_REQUIRE_SOFTHSM is set or CI is true, so that CI can
// never pass by skipping the card tests.
package softhsmtest

import (
	"os"
	"testing"

	"github.com/cardbridge/cardbridge/internal/softhsm"
)

// PIN and SOPIN are the PINs of every test token.
const (
	PIN   = "123456"
	SOPIN = "12345678"
)

// New creates a token labelled label in a temp dir and points SOFTHSM2_CONF
// at it. Tokens made by later calls in the same test share that dir, so that
// a module initialised afterwards sees them all.
func New(t testing.TB, label string) *softhsm.Token {
	t.Helper()
	if _, err := softhsm.Module(); err != nil {
		Missing(t, err)
	}
	dir := os.Getenv("SOFTHSM2_CONF")
	var base string
	if dir != "" && isTestDir(t, dir) {
		base = dirOf(dir)
	} else {
		base = t.TempDir()
	}
	tok, err := softhsm.Create(base, label, PIN, SOPIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	markTestDir(t, tok.Conf)
	return tok
}

// Missing skips or fails the test for a missing SoftHSM2.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CARDBRIDGE_REQUIRE_SOFTHSM") != "" || os.Getenv("CI") == "true" {
		t.Fatalf("SoftHSM2 is required here: %v", err)
	}
	t.Skipf("SoftHSM2 missing: %v", err)
}

var testDirs = map[testing.TB]string{}

func markTestDir(t testing.TB, conf string) {
	testDirs[t] = conf
	t.Cleanup(func() { delete(testDirs, t) })
}

func isTestDir(t testing.TB, conf string) bool { return testDirs[t] == conf }

func dirOf(conf string) string {
	for i := len(conf) - 1; i >= 0; i-- {
		if conf[i] == '/' || conf[i] == '\\' {
			return conf[:i]
		}
	}
	return "."
}
