package protocol

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		frame string
		code  int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"system.info"}`, 0},
		{`{"jsonrpc":"2.0","id":"a","method":"sign","params":{}}`, 0},
		{`{"jsonrpc":"2.0","method":"x"}`, 0}, // notification
		{``, CodeInvalidRequest},
		{`nope`, CodeParseError},
		{`[]`, CodeInvalidRequest},
		{`42`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":true,"method":"x"}`, CodeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1}`, CodeInvalidRequest},
		{`{"id":1,"method":"x"}`, CodeInvalidRequest},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.frame))
		if (err == nil) != (tt.code == 0) || (err != nil && err.Code != tt.code) {
			t.Errorf("Decode(%q) = %v, want code %d", tt.frame, err, tt.code)
		}
	}
}

func TestDecodeParamsRefusesSecrets(t *testing.T) {
	var p SignParams
	for _, params := range []string{`{"pin":"1234"}`, `{"Pin":"1"}`, `{"soPin":"1"}`, `{"password":"x"}`} {
		if err := DecodeParams(json.RawMessage(params), &p); err == nil || err.Code != CodeInvalidParams {
			t.Errorf("%s accepted: %v", params, err)
		}
	}
	if err := DecodeParams(json.RawMessage(`{"keyId":"01","algorithm":"ECDSA-SHA256","digest":"AAEC"}`), &p); err != nil || len(p.Digest) != 3 {
		t.Fatalf("good params: %v %+v", err, p)
	}
	if err := DecodeParams(json.RawMessage(`{"keyId":"01","extra":1}`), &p); err == nil {
		t.Fatal("unknown field accepted")
	}
	// A secret beside a field of the wrong type still gets the secret's
	// message, whichever comes first.
	for _, params := range []string{`{"digest":5,"pin":"1234"}`, `{"pin":"1234","digest":5}`} {
		if err := DecodeParams(json.RawMessage(params), &p); err == nil || !strings.Contains(err.Data.Reason, "never sent over the wire") {
			t.Errorf("%s: %v", params, err)
		}
	}
}

// TestParamsHaveNoSecretFields holds up DecodeParams' shortcut: it looks
// for secret names only when decoding fails, which is right only while no
// params type can take such a field (encoding/json matches names without
// regard to case).
func TestParamsHaveNoSecretFields(t *testing.T) {
	params := []any{CardParams{}, KeysGenerateParams{}, CSRCreateParams{}, CertificatesInstallParams{},
		KeysDeleteParams{}, PKCS12ImportParams{}, SignParams{}, SMIMEParams{}}
	// The list above must name every params type the package declares.
	listed := map[string]bool{}
	for _, v := range params {
		listed[reflect.TypeOf(v).Name()] = true
	}
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				for _, spec := range g.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok && strings.HasSuffix(ts.Name.Name, "Params") && !listed[ts.Name.Name] {
						t.Errorf("%s is not checked here; add it to the list", ts.Name.Name)
					}
				}
			}
		}
	}
	for _, v := range params {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" {
				name = f.Name
			}
			for _, s := range secretFields {
				if strings.EqualFold(name, s) {
					t.Errorf("%s.%s takes %q, a secret's name", typ.Name(), f.Name, name)
				}
			}
		}
	}
}

func TestErrorCodesAreStable(t *testing.T) {
	// Published codes keep their names forever; add, never change.
	want := map[int]string{
		1001: "user_cancelled", 1002: "pin_incorrect", 1003: "pin_locked", 1004: "card_not_present",
		1005: "key_not_found", 1006: "unsupported_algorithm", 1007: "origin_denied", 1008: "busy",
		1009: "card_removed", 1010: "certificate_mismatch", 1011: "timeout", 1099: "internal",
	}
	for code, name := range want {
		if codeNames[code] != name {
			t.Errorf("code %d is %q, was published as %q", code, codeNames[code], name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"sign","params":{"keyId":"01","algorithm":"ECDSA-SHA256","digests":["AAAA"]}}`,
		`{"jsonrpc":"2.0","id":null,"method":"cards.list"}`,
		`[{"jsonrpc":"2.0"}]`, `{"id":{}}`, "\x00\xff", `{"jsonrpc":"2.0","id":1e400,"method":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := Decode(frame)
		if err == nil {
			if req == nil || req.Method == "" || req.JSONRPC != "2.0" {
				t.Fatalf("accepted a bad request: %+v", req)
			}
			var p SignParams
			DecodeParams(req.Params, &p)
		}
		resp := NewResponse(nil, nil, err)
		if err != nil {
			if _, merr := json.Marshal(resp); merr != nil {
				t.Fatalf("error response does not encode: %v", merr)
			}
		}
	})
}
