package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeIsStrict(t *testing.T) {
	tests := []struct {
		frame string
		code  int
	}{
		// Duplicate and case-variant keys, at the envelope and deeper.
		{`{"jsonrpc":"2.0","id":1,"method":"system.info","method":"sign"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"system.info","METHOD":"sign"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"Id":2,"method":"sign"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"keyId":"01","KEYID":"02"}}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"csr.create","params":{"subject":{"commonName":"a","commonname":"b"}}}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":[{"a":1,"a":2}]}`, CodeInvalidRequest},
		// A secret anywhere: envelope, params, nested, in an array.
		{`{"jsonrpc":"2.0","id":1,"method":"sign","pin":"1234"}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","PIN":"1234"}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"csr":{"subject":{"pin":"1"}}}}`, CodeInvalidParams},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"digests":[{"soPin":"1"}]}}`, CodeInvalidParams},
		// Values that merely look like keys are fine.
		{`{"jsonrpc":"2.0","id":"pin","method":"sign","params":{"keyId":"pin","label":"method"}}`, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"a":{"b":1},"c":[1,{"b":2}],"b":3}}`, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"a":[[],{}],"A2":null,"x":true}}`, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"label":"{\"pin\":1}","a":["{","}"]}}`, 0},
		// Nesting is bounded.
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat(`[`, 40) + `{}` + strings.Repeat(`]`, 40) + `}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat(`[`, 4000) + strings.Repeat(`]`, 4000) + `}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat(`[`, 30) + strings.Repeat(`]`, 30) + `}`, 0},
	}
	for _, tt := range tests {
		req, err := Decode([]byte(tt.frame))
		if (err == nil) != (tt.code == 0) || (err != nil && err.Code != tt.code) {
			t.Errorf("Decode(%s) = %v, want code %d", tt.frame, err, tt.code)
		}
		if err != nil && req != nil {
			t.Errorf("Decode(%s) returned a request beside its error", tt.frame)
		}
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := truncate(strings.Repeat("é", 40), 33)
	if !strings.HasSuffix(s, "…") || strings.ContainsRune(s, '\uFFFD') || len(s) > 36 {
		t.Fatalf("truncate = %q", s)
	}
}

// FuzzStrict: whatever Decode accepts has, at the envelope, no two keys
// that fold to the same name and no secret's name.
func FuzzStrict(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"keyId":"01"}}`)
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"a","METHOD":"b"}`)
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"a","params":{"a":[{"pin":1}]}}`)
	f.Fuzz(func(t *testing.T, frame string) {
		req, err := Decode([]byte(frame))
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal([]byte(frame), &top) != nil || req.Method == "" {
			t.Fatalf("accepted %q", frame)
		}
		seen := map[string]bool{}
		for k := range top {
			if seen[strings.ToLower(k)] || isSecretName(strings.ToLower(k)) {
				t.Fatalf("accepted %q", frame)
			}
			seen[strings.ToLower(k)] = true
		}
	})
}

// What the strict walk adds to a batch of 1000 digests (see
// BenchmarkDecodeSign1000 for the whole decode).
func BenchmarkCheckStrict1000(b *testing.B) {
	frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "sign",
		"params": map[string]any{"keyId": "0102", "algorithm": "ECDSA-SHA256", "digests": digests1000()}})
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkStrict(frame); err != nil {
			b.Fatal(err)
		}
	}
}
