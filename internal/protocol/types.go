package protocol

import "strings"

// Method names. Append only.
const (
	MethodSystemInfo   = "system.info"
	MethodCardsList    = "cards.list"
	MethodKeysList     = "keys.list"
	MethodKeysGenerate = "keys.generate"
	MethodSign         = "sign"

	MethodCSRCreate           = "csr.create"
	MethodCertificatesInstall = "certificates.install"
	MethodCertificatesList    = "certificates.list"
	MethodKeysDelete          = "keys.delete"
	MethodPKCS12Import        = "pkcs12.import"

	MethodSMIMESign    = "smime.sign"
	MethodSMIMEDecrypt = "smime.decrypt"

	MethodEventsSubscribe = "events.subscribe"
	MethodPINChange       = "pin.change"
	MethodPINUnblock      = "pin.unblock"

	// NotifyCardsChanged is the notification sent after events.subscribe
	// when a reader or card comes or goes; its params are a CardsList.
	NotifyCardsChanged = "cards.changed"
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
// Status, when set, says why the reader shows no card although one may be
// in it: ReaderNotAnswering or ReaderUnsupported.
type Reader struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Card   *Card  `json:"card"`
	Status string `json:"status,omitempty"`
}

// Reader statuses. Append only.
const (
	// ReaderNotAnswering: the reader's module did not answer in time; the
	// other readers are served meanwhile. A module that has not listed its
	// readers yet appears as one reader named after its library.
	ReaderNotAnswering = "notAnswering"
	// ReaderUnsupported: the module does not recognise the card in it.
	ReaderUnsupported = "unsupported"
)

// Card is a card (a PKCS#11 token), named by its serial: the token serial,
// or, where several cards share one (tpm2-pkcs11, NSS), the serial, a dash
// and six hex digits from the module and token label. Requests name the
// card by this value.
type Card struct {
	Serial       string   `json:"serial"`
	TokenSerial  string   `json:"tokenSerial"`
	Label        string   `json:"label"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	PIN          PINState `json:"pin"`
	Algorithms   []string `json:"algorithms"`
	// FixedSlots: a PIV card (a YubiKey, say), whose keys live in fixed
	// slots that keys.generate picks by purpose.
	FixedSlots bool `json:"fixedSlots,omitempty"`
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
	// Unusable, when set, says why the key cannot be used (its public key
	// cannot be read); such a key has no publicKey or algorithm.
	Unusable string `json:"unusable,omitempty"`
	// AlwaysAuthenticate: the card wants the PIN before every use of the
	// key (PIV slot 9c, qualified-signature keys); cardbridge presents the
	// PIN typed once per request for each signature.
	AlwaysAuthenticate bool `json:"alwaysAuthenticate,omitempty"`
}

// KeysGenerateParams are the params of keys.generate. With CSR set, the
// request is made in the same PIN session.
type KeysGenerateParams struct {
	Card      string      `json:"card,omitempty"`
	Algorithm string      `json:"algorithm"`
	Label     string      `json:"label,omitempty"`
	CSR       *CSRRequest `json:"csr,omitempty"`
	// Purpose picks the slot on a card with fixed slots: "authenticate"
	// (PIV 9a, the default), "sign" (9c) or "decrypt" (9d).
	Purpose string `json:"purpose,omitempty"`
	// Replace allows a key to replace the one in a full slot, once the
	// user confirms; without it a full slot is refused with slot_occupied.
	Replace bool `json:"replace,omitempty"`
}

// CSRRequest is what goes into a certificate request besides the key.
type CSRRequest struct {
	Subject            Subject  `json:"subject"`
	Emails             []string `json:"emails,omitempty"`
	SignatureAlgorithm string   `json:"signatureAlgorithm,omitempty"`
}

// Subject is a distinguished name.
type Subject struct {
	CommonName         string `json:"commonName,omitempty"`
	EmailAddress       string `json:"emailAddress,omitempty"`
	Organization       string `json:"organization,omitempty"`
	OrganizationalUnit string `json:"organizationalUnit,omitempty"`
	Locality           string `json:"locality,omitempty"`
	StateOrProvince    string `json:"stateOrProvince,omitempty"`
	Country            string `json:"country,omitempty"`
}

// KeysGenerateResult is the result of keys.generate.
type KeysGenerateResult struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	PublicKey []byte `json:"publicKey"`
	CSR       string `json:"csr,omitempty"`
	Slot      string `json:"slot,omitempty"` // the PIV slot, e.g. "9a"
}

// CSRCreateParams are the params of csr.create.
type CSRCreateParams struct {
	Card               string   `json:"card,omitempty"`
	KeyID              string   `json:"keyId"`
	Subject            Subject  `json:"subject"`
	Emails             []string `json:"emails,omitempty"`
	SignatureAlgorithm string   `json:"signatureAlgorithm,omitempty"`
}

// CSRCreateResult is the result of csr.create.
type CSRCreateResult struct {
	CSR string `json:"csr"`
}

// CertificatesInstallParams are the params of certificates.install.
// Certificates are PEM or standard base64 DER.
type CertificatesInstallParams struct {
	Card        string   `json:"card,omitempty"`
	Certificate string   `json:"certificate"`
	Chain       []string `json:"chain,omitempty"`
}

// CertificatesInstallResult is the result of certificates.install.
type CertificatesInstallResult struct {
	KeyID    string `json:"keyId"`
	Subject  string `json:"subject"`
	NotAfter string `json:"notAfter"`
	Expired  bool   `json:"expired"`
}

// CertificatesList is the result of certificates.list.
type CertificatesList struct {
	Certificates []Certificate `json:"certificates"`
}

// Certificate is a certificate on a card. KeyID is null unless a key on
// the card belongs to it.
type Certificate struct {
	DER          []byte   `json:"der"`
	Subject      string   `json:"subject"`
	Issuer       string   `json:"issuer"`
	SerialNumber string   `json:"serialNumber"`
	NotBefore    string   `json:"notBefore"`
	NotAfter     string   `json:"notAfter"`
	KeyID        *string  `json:"keyId"`
	Emails       []string `json:"emails"`
	IsCA         bool     `json:"isCA"`
}

// KeysDeleteParams are the params of keys.delete.
type KeysDeleteParams struct {
	Card  string `json:"card,omitempty"`
	KeyID string `json:"keyId"`
}

// PKCS12ImportParams are the params of pkcs12.import. The bundle's
// password is asked for in cardbridge's dialog.
type PKCS12ImportParams struct {
	Card   string `json:"card,omitempty"`
	PKCS12 []byte `json:"pkcs12"`
	Label  string `json:"label,omitempty"`
}

// PKCS12ImportResult is the result of pkcs12.import.
type PKCS12ImportResult struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	Subject   string `json:"subject"`
	NotAfter  string `json:"notAfter"`
	Chain     int    `json:"chain"` // CA certificates stored
}

// SignParams are the params of sign: exactly one of Digest, Digests and
// Data. Format "cms" makes CMS SignedData instead of a bare signature;
// DigestAlgorithm then names the hash of Digest(s) and Attached embeds
// Data.
type SignParams struct {
	Card            string   `json:"card,omitempty"`
	KeyID           string   `json:"keyId"`
	Algorithm       string   `json:"algorithm,omitempty"`
	Digest          []byte   `json:"digest,omitempty"`
	Digests         [][]byte `json:"digests,omitempty"`
	Data            []byte   `json:"data,omitempty"`
	Format          string   `json:"format,omitempty"`
	DigestAlgorithm string   `json:"digestAlgorithm,omitempty"`
	Attached        bool     `json:"attached,omitempty"`
}

// SMIMEParams are the params of smime.sign and smime.decrypt: an RFC 5322
// message, base64. KeyID is for smime.sign only.
type SMIMEParams struct {
	Card    string `json:"card,omitempty"`
	KeyID   string `json:"keyId,omitempty"`
	Message []byte `json:"message"`
}

// SMIMEResult is the result of smime.sign (the signed message) and
// smime.decrypt (the inner MIME entity), base64.
type SMIMEResult struct {
	Message []byte `json:"message"`
}

// SignResult is the result of sign: Signatures for Digests, Signature
// otherwise.
type SignResult struct {
	Signature  []byte   `json:"signature,omitempty"`
	Signatures [][]byte `json:"signatures,omitempty"`
}

// GroupSerial writes a card number in groups of four, as printed on cards,
// for dialogs and the tray. The suffix of a card that shares its serial
// ("SERIAL-3fa2c1", see Card) stays in one piece.
func GroupSerial(s string) string {
	if serial, suffix, ok := strings.Cut(s, "-"); ok && len(suffix) == 6 {
		return GroupSerial(serial) + "-" + suffix
	}
	if len(s) <= 8 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MaxBatch is the largest number of digests in one sign request.
const MaxBatch = 1000
