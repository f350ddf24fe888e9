package p12

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// decodeTimeout bounds a decoding whatever its caller's context says: at
// the caps of cost.go it needs about a second.
const decodeTimeout = 30 * time.Second

// childEnv marks the process as a decoder child. The variable is set only
// on the child's command, never in the daemon's own environment.
const childEnv = "CARDBRIDGE_INTERNAL_P12_DECODE"

// The child is this same executable: init runs before main (or a test
// binary's TestMain), so every program that links this package can serve
// as its own decoder without a flag of its own.
func init() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild(os.Stdin, os.Stdout))
	}
}

type childRequest struct {
	Data     []byte `json:"data"`
	Password string `json:"password"`
}

type childReply struct {
	Key   []byte   `json:"key,omitempty"` // PKCS#8
	Cert  []byte   `json:"cert,omitempty"`
	Chain [][]byte `json:"chain,omitempty"`
	// Error is "password" or "invalid", with Message saying why.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// runChild decodes one bundle from r and writes the result to w.
func runChild(r io.Reader, w io.Writer) int {
	var req childRequest
	if err := json.NewDecoder(io.LimitReader(r, 4*MaxSize)).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "p12 decoder: read request:", err)
		return 2
	}
	var rep childReply
	key, cert, chain, err := pkcs12.DecodeChain(req.Data, req.Password)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		rep.Error = "password"
	case err != nil:
		rep.Error, rep.Message = "invalid", err.Error()
	default:
		if key != nil {
			if rep.Key, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
				rep.Error, rep.Message = "invalid", err.Error()
				break
			}
		}
		if cert != nil {
			rep.Cert = cert.Raw
		}
		for _, c := range chain {
			rep.Chain = append(rep.Chain, c.Raw)
		}
	}
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// decodeInChild runs the decoder in a child process that is killed when
// ctx ends or decodeTimeout passes.
func decodeInChild(parent context.Context, data []byte, password string) (*Bundle, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the PKCS#12 decoder: %w", err)
	}
	ctx, cancel := context.WithTimeout(parent, decodeTimeout)
	defer cancel()
	in, err := json.Marshal(childRequest{Data: data, Password: password})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.Dir = os.TempDir() // never leave anything in the caller's directory
	err = cmd.Run()
	clear(in)                // the password
	defer clear(out.Bytes()) // the key
	if parent.Err() != nil {
		return nil, parent.Err()
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("the bundle took longer than %s to open: %w", decodeTimeout, ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("PKCS#12 decoder: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var rep childReply
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("PKCS#12 decoder: %w", err)
	}
	return rep.bundle()
}

func (rep *childReply) bundle() (*Bundle, error) {
	switch rep.Error {
	case "":
	case "password":
		return nil, ErrWrongPassword
	default:
		return nil, fmt.Errorf("read PKCS#12 bundle: %s: %w", rep.Message, ErrInvalid)
	}
	var b Bundle
	var err error
	if rep.Key != nil {
		if b.Key, err = x509.ParsePKCS8PrivateKey(rep.Key); err != nil {
			return nil, fmt.Errorf("PKCS#12 decoder: key: %w", err)
		}
	}
	if rep.Cert != nil {
		if b.Cert, err = x509.ParseCertificate(rep.Cert); err != nil {
			return nil, fmt.Errorf("PKCS#12 decoder: certificate: %w", err)
		}
	}
	for _, der := range rep.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("PKCS#12 decoder: chain: %w", err)
		}
		b.Chain = append(b.Chain, c)
	}
	return &b, nil
}
