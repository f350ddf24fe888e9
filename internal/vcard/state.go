package vcard

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Defaults of a fresh card, the same as a new YubiKey's.
const (
	DefaultPIN     = "123456"
	DefaultPUK     = "12345678"
	DefaultMgmtKey = "010203040506070801020304050607080102030405060708"
	defaultTries   = 3
)

// stateFile is the one file a card keeps in its state directory.
const stateFile = "card.json"

// state is everything that survives pulling the card: written to
// DIR/card.json after every change, before the card answers, so a card pulled
// right after a wrong PIN keeps the lower retry counter.
type state struct {
	Serial  uint32            `json:"serial"`
	PIN     string            `json:"pin"`
	PUK     string            `json:"puk"`
	PINMax  int               `json:"pin_max"`
	PINLeft int               `json:"pin_left"`
	PUKMax  int               `json:"puk_max"`
	PUKLeft int               `json:"puk_left"`
	MgmtAlg byte              `json:"mgmt_alg"`
	MgmtKey []byte            `json:"mgmt_key"`
	Keys    map[string]*key   `json:"keys"`    // by slot, "9a"
	Objects map[string][]byte `json:"objects"` // by object tag, "5fc105": the value inside tag 53
	dir     string            // "": a card in memory only (tests, fuzzing)
}

// key is a private key in a slot.
type key struct {
	Alg         byte   `json:"alg"`
	PINPolicy   byte   `json:"pin_policy"`
	TouchPolicy byte   `json:"touch_policy"`
	Imported    bool   `json:"imported"`
	PKCS8       []byte `json:"pkcs8"`
}

func newState(dir string, serial uint32) (*state, error) {
	if serial == 0 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		// Eight decimal digits, like the serials printed on YubiKeys.
		serial = 10000000 + binary.BigEndian.Uint32(b[:])%90000000
	}
	mk, _ := hex.DecodeString(DefaultMgmtKey)
	s := &state{Serial: serial, dir: dir}
	s.reset(mk)
	return s, nil
}

// reset wipes keys and objects and restores the default PIN, PUK and
// management key (Yubico RESET, and a fresh card).
func (s *state) reset(mgmt []byte) {
	s.PIN, s.PUK = DefaultPIN, DefaultPUK
	s.PINMax, s.PINLeft, s.PUKMax, s.PUKLeft = defaultTries, defaultTries, defaultTries, defaultTries
	s.MgmtAlg, s.MgmtKey = alg3DES, mgmt
	s.Keys = map[string]*key{}
	s.Objects = map[string][]byte{}
}

// loadState reads DIR/card.json, or creates a fresh card there.
func loadState(dir string, serial uint32) (*state, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vcard state dir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		s, err := newState(dir, serial)
		if err != nil {
			return nil, err
		}
		return s, s.save()
	}
	if err != nil {
		return nil, fmt.Errorf("vcard state: %w", err)
	}
	s := &state{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("vcard state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.Keys == nil {
		s.Keys = map[string]*key{}
	}
	if s.Objects == nil {
		s.Objects = map[string][]byte{}
	}
	s.dir = dir
	return s, nil
}

// save writes the state atomically: a temp file, fsync, rename.
func (s *state) save() error {
	if s.dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("vcard save: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("vcard save: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("vcard save: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vcard save: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(s.dir, stateFile)); err != nil {
		return fmt.Errorf("vcard save: %w", err)
	}
	return nil
}
