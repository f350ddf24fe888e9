package protocol

import (
	"encoding/json"
	"testing"
)

// The JSON and base64 paths of a batch sign: task bench's profile showed
// them as the largest cost outside the card and the dialog.

func digests1000() [][]byte {
	d := make([][]byte, 1000)
	for i := range d {
		d[i] = make([]byte, 32)
		d[i][0], d[i][1] = byte(i), byte(i>>8)
	}
	return d
}

func BenchmarkDecodeSign1000(b *testing.B) {
	frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "sign",
		"params": map[string]any{"keyId": "0102", "algorithm": "ECDSA-SHA256", "digests": digests1000()}})
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := Decode(frame)
		if err != nil {
			b.Fatal(err)
		}
		var p SignParams
		if err := DecodeParams(req.Params, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSignResult1000(b *testing.B) {
	sigs := make([][]byte, 1000)
	for i := range sigs {
		sigs[i] = make([]byte, 72) // a DER ECDSA P-256 signature
	}
	resp := NewResponse(json.RawMessage("1"), SignResult{Signatures: sigs}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}
