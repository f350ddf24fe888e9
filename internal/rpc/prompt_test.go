package rpc

import (
	"strings"
	"testing"

	"github.com/cardbridge/cardbridge/internal/token"
)

func TestPINPromptSaysWhoWhatWhere(t *testing.T) {
	p := pinPrompt("https://portal.example", `sign 1 document with your key "k" (EC-P256).`, token.LoginInfo{
		Reader: "ACS ACR39U\n\nhttps://bank.example wants", Serial: "1625834976919804", Label: "Alice\r\n",
		PIN: token.PINState{CountLow: true},
	})
	for _, want := range []string{"https://portal.example wants to sign 1 document", "Card: 1625 8349 7691 9804 (Alice\uFFFD\uFFFD)", "Reader: ACS ACR39U\uFFFD\uFFFDhttps://bank.example wants"} {
		if !strings.Contains(p.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, p.Description)
		}
	}
	if strings.Count(p.Description, "\n") != 5 {
		t.Errorf("a card's names added lines:\n%s", p.Description)
	}
	if p.Warning == "" {
		t.Error("no warning with the PIN count low")
	}
	if fin := pinPrompt("o", "x", token.LoginInfo{PIN: token.PINState{FinalTry: true}}); !strings.Contains(fin.Warning, "Last try") {
		t.Errorf("final try warning = %q", fin.Warning)
	}
}

// The PIN change and unblock dialogs name the card by what the card and
// its driver call themselves; that cannot add lines either.
func TestDescribeCardIsOneLine(t *testing.T) {
	got := describeCard(token.Reader{Name: "Reader\u2029Card: 0000", Card: &token.Card{Serial: "12345678", Label: "x\nReader: Trusted\u202Ey"}})
	if want := "card 12345678 (x\uFFFDReader: Trusted\uFFFDy) in Reader\uFFFDCard: 0000"; got != want {
		t.Fatalf("describeCard = %q, want %q", got, want)
	}
}

// TestDialogWording: every dialog is titled "cardbridge", the field says
// PIN, and consent asks the question in the words people expect.
func TestDialogWording(t *testing.T) {
	p := pinPrompt("https://portal.example", "sign.", token.LoginInfo{Serial: "1"})
	if p.Title != "cardbridge" || p.Label != "PIN:" {
		t.Errorf("PIN dialog: title %q, label %q", p.Title, p.Label)
	}
	c := consentPrompt("https://portal.example\nhttps://bank.example")
	if c.Title != "cardbridge" || c.OK != "Allow" || c.Cancel != "Deny" ||
		!strings.HasPrefix(c.Description, "Allow https://portal.example\uFFFDhttps://bank.example to use your cards?\n") {
		t.Errorf("consent dialog: %+v", c)
	}
	if low := pinPrompt("o", "x", token.LoginInfo{PIN: token.PINState{CountLow: true}}); strings.Contains(low.Warning, "few") {
		t.Errorf("one wrong PIN is not few tries left: %q", low.Warning)
	}
}
