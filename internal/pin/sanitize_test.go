package pin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice Example", "Alice Example"},
		{"a\nReader: fake", "a\uFFFDReader: fake"},
		{"a\r\nb", "a\uFFFD\uFFFDb"},
		{"line\u2028sep\u2029par", "line\uFFFDsep\uFFFDpar"},
		{"\u202Egnp.exe", "\uFFFDgnp.exe"},                                 // right-to-left override
		{"a\u2066b\u2069c\u200Fd\u061Ce", "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"}, // isolates, RLM, ALM
		{"nul\x00cut", "nul\uFFFDcut"},
		{"esc\x1b[31m", "esc\uFFFD[31m"},
		{"c1\u0085\u009b", "c1\uFFFD\uFFFD"},
		{"zw\u200Bj\u200Dsoft\u00ADbom\uFEFF", "zw\uFFFDj\uFFFDsoft\uFFFDbom\uFFFD"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"tab\there", "tab here"},
		{"Zoë Ünïcødé ключ", "Zoë Ünïcødé ключ"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in, 0); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := Clean(strings.Repeat("ж", 1000), 50)
	if utf8.RuneCountInString(long) != 50 || !strings.HasSuffix(long, "…") || Clean(long, 50) != long {
		t.Fatalf("bounded value: %d runes %q", utf8.RuneCountInString(long), long)
	}
}

func TestNeutralize(t *testing.T) {
	p := Neutralize(Prompt{
		Title:       "x\ny",
		Description: "site wants\r\nto sign\u2028Card: fake\x00" + strings.Repeat("\n", 100),
		Label:       "PIN\u202E:", Warning: strings.Repeat("w", 1000), OK: "O\nK",
	})
	if p.Title != "x\uFFFDy" || p.Label != "PIN\uFFFD:" || p.OK != "O\uFFFDK" {
		t.Fatalf("one-line fields: %+v", p)
	}
	if !strings.HasPrefix(p.Description, "site wants\nto sign\uFFFDCard: fake\uFFFD") {
		t.Fatalf("description: %q", p.Description)
	}
	if strings.Count(p.Description, "\n") > maxDescLines || utf8.RuneCountInString(p.Warning) != maxWarning {
		t.Fatalf("bounds: %d lines, warning of %d runes", strings.Count(p.Description, "\n"), utf8.RuneCountInString(p.Warning))
	}
	if again := Neutralize(p); again != p {
		t.Fatalf("Neutralize is not idempotent: %+v", again)
	}
}

// Through the Queue and a real pinentry conversation, nothing raw reaches
// the program: the scripted pinentry records the description it was sent.
func TestQueueSendsOnlyNeutralText(t *testing.T) {
	script, _ := filepath.Abs("../../testdata/pinentry-script")
	log := filepath.Join(t.TempDir(), "dialogs")
	t.Setenv("CB_TEST_PINENTRY_LOG", log)
	pe := NewPinentry(script)
	defer settle(t, pe)
	q := NewQueue(pe)
	err := q.Confirm(context.Background(), Prompt{Description: "https://portal.example wants to sign\nCard: 1\u2028Reader: evil\x00\x1b[2J\u202Etxt.exe"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	got := string(b)
	for _, raw := range []string{"\u2028", "\x00", "\x1b", "\u202E", "%00", "%1B"} {
		if strings.Contains(got, raw) {
			t.Errorf("the dialog was sent %q: %q", raw, got)
		}
	}
	if !strings.Contains(got, "Card: 1\uFFFDReader: evil") {
		t.Errorf("dialog text: %q", got)
	}
}

// FuzzClean: nothing neutral survives, the bound holds, and cleaning
// twice changes nothing.
func FuzzClean(f *testing.F) {
	f.Add("Alice\u2028Card: 1\u202E\x00\x1b[2J", 10)
	f.Add("\xff\xfe", 1)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%300 + 1
		if max < 1 {
			max = -max + 1
		}
		got := Clean(s, max)
		if strings.ContainsFunc(got, neutral) && strings.ContainsFunc(strings.ReplaceAll(got, "\uFFFD", ""), neutral) {
			t.Fatalf("Clean(%q) = %q keeps a neutral rune", s, got)
		}
		if strings.ContainsAny(got, "\n\r\t") || !utf8.ValidString(got) || utf8.RuneCountInString(got) > max {
			t.Fatalf("Clean(%q, %d) = %q", s, max, got)
		}
		if Clean(got, max) != got {
			t.Fatalf("Clean is not idempotent on %q", got)
		}
	})
}
