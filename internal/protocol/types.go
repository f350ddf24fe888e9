package protocol

// Method names. Append only.
const (
	MethodSystemInfo   = "system.info"
	MethodCardsList    = "cards.list"
	MethodKeysList     = "keys.list"
	MethodKeysGenerate = "keys.generate"
	MethodSign         = "sign"
)

// SystemInfo is the result of system.info.
type SystemInfo struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Protocol int      `json:"protocol"`
	Methods  []string `json:"methods"`
}

// CardsList is the result of cards.list.
type CardsList struct {
	Readers []Reader `json:"readers"`
}

// Reader is a card reader (a PKCS#11 slot) and the card in it, if any.
type Reader struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Card   *Card  `json:"card"`
}

// Card is a card (a PKCS#11 token), named by its serial.
type Card struct {
	Serial       string   `json:"serial"`
	Label        string   `json:"label"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	PIN          PINState `json:"pin"`
	Algorithms   []string `json:"algorithms"`
}

// PINState is what the card says about its user PIN.
type PINState struct {
	Initialized bool `json:"initialized"`
	CountLow    bool `json:"countLow"`
	FinalTry    bool `json:"finalTry"`
	Locked      bool `json:"locked"`
	ToBeChanged bool `json:"toBeChanged"`
	MinLength   int  `json:"minLength"`
	MaxLength   int  `json:"maxLength"`
	PINPad      bool `json:"pinPad"`
}

// CardParams names a card; empty means the only card present.
type CardParams struct {
	Card string `json:"card,omitempty"`
}

// KeysList is the result of keys.list.
type KeysList struct {
	Keys []Key `json:"keys"`
}

// Key is a key pair on a card. Binary values are standard base64.
type Key struct {
	KeyID       string `json:"keyId"`
	Label       string `json:"label"`
	Algorithm   string `json:"algorithm"`
	PublicKey   []byte `json:"publicKey"`
	Certificate []byte `json:"certificate"`
}

// KeysGenerateParams are the params of keys.generate.
type KeysGenerateParams struct {
	Card      string `json:"card,omitempty"`
	Algorithm string `json:"algorithm"`
	Label     string `json:"label,omitempty"`
}

// KeysGenerateResult is the result of keys.generate.
type KeysGenerateResult struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	PublicKey []byte `json:"publicKey"`
}

// SignParams are the params of sign: exactly one of Digest, Digests and
// Data.
type SignParams struct {
	Card      string   `json:"card,omitempty"`
	KeyID     string   `json:"keyId"`
	Algorithm string   `json:"algorithm"`
	Digest    []byte   `json:"digest,omitempty"`
	Digests   [][]byte `json:"digests,omitempty"`
	Data      []byte   `json:"data,omitempty"`
}

// SignResult is the result of sign: Signatures for Digests, Signature
// otherwise.
type SignResult struct {
	Signature  []byte   `json:"signature,omitempty"`
	Signatures [][]byte `json:"signatures,omitempty"`
}

// MaxBatch is the largest number of digests in one sign request.
const MaxBatch = 1000
