package jwtverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The signing algorithms that may be allowed: RSA PKCS#1 v1.5, RSA-PSS,
// ECDSA and Ed25519. HMAC and "none" are absent on purpose.
var supportedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// DefaultAlgorithm is what Expected.Algorithms means when empty, as in
// Vault: RS256 only.
const DefaultAlgorithm = "RS256"

// minRSABits is the smallest RSA modulus accepted in any key source.
const minRSABits = 2048

// SupportedAlgorithms returns the names of the algorithms that may be
// allowed, in a fresh slice.
func SupportedAlgorithms() []string {
	out := make([]string, len(supportedAlgorithms))
	for i, a := range supportedAlgorithms {
		out[i] = string(a)
	}
	return out
}

// CheckAlgorithms returns an error wrapping ErrConfig naming the first
// entry of names that is not a supported asymmetric algorithm ("HS256",
// "none", a typo), or nil. Verify ignores such entries anyway; this is for
// refusing them when the configuration is written.
func CheckAlgorithms(names []string) error {
	for _, n := range names {
		if !slices.Contains(supportedAlgorithms, jose.SignatureAlgorithm(n)) {
			return &configError{msg: fmt.Sprintf("unsupported signing algorithm %q: use one of %s",
				n, strings.Join(SupportedAlgorithms(), ", "))}
		}
	}
	return nil
}

// allowedAlgorithms is the intersection of names (or the default) with the
// supported algorithms.
func allowedAlgorithms(names []string) []jose.SignatureAlgorithm {
	if len(names) == 0 {
		return []jose.SignatureAlgorithm{DefaultAlgorithm}
	}
	out := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		a := jose.SignatureAlgorithm(n)
		if slices.Contains(supportedAlgorithms, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// key is one public key a token may be signed with. id and alg are empty
// when the source did not say (PEM keys never do).
type key struct {
	id  string
	alg string
	pub crypto.PublicKey
}

// fits reports whether k can have made a signature of alg: the key type
// (and curve) must be the algorithm's, and a key published for one
// algorithm is used for no other.
func (k *key) fits(alg jose.SignatureAlgorithm) bool {
	if k.alg != "" && k.alg != string(alg) {
		return false
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return pub.Curve == elliptic.P256()
		case jose.ES384:
			return pub.Curve == elliptic.P384()
		case jose.ES512:
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// checkPublicKey accepts RSA keys of at least 2048 bits, ECDSA keys on
// P-256, P-384 or P-521, and Ed25519 keys.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too short; at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA key on an unsupported curve")
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T: use RSA, ECDSA or Ed25519", pub)
}

// ParsePublicKeysPEM parses one PEM text holding one or more public keys
// ("PUBLIC KEY", "RSA PUBLIC KEY") or certificates, whose public keys are
// taken. Private keys and anything else are refused with an error that
// says what was found, never the text.
func ParsePublicKeysPEM(text string) ([]crypto.PublicKey, error) {
	rest := []byte(strings.TrimSpace(text))
	var out []crypto.PublicKey
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(out) == 0 {
				return nil, fmt.Errorf("no PEM block found")
			}
			return nil, fmt.Errorf("text after PEM block %d is not PEM", len(out))
		}
		pub, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(out)+1, err)
		}
		if err := checkPublicKey(pub); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(out)+1, err)
		}
		out = append(out, pub)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM block found")
	}
	return out, nil
}

func parsePEMBlock(b *pem.Block) (crypto.PublicKey, error) {
	switch b.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid PKIX public key")
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid PKCS#1 RSA public key")
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid certificate")
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(b.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("is a private key (%s); give only the public key", b.Type)
	}
	return nil, fmt.Errorf("unexpected PEM type %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", b.Type)
}

// staticKeys parses PEM texts into keys without IDs.
func staticKeys(pems []string) ([]key, error) {
	var out []key
	for i, p := range pems {
		pubs, err := ParsePublicKeysPEM(p)
		if err != nil {
			return nil, &configError{msg: fmt.Sprintf("error parsing public key %d: %v", i+1, err)}
		}
		for _, pub := range pubs {
			out = append(out, key{pub: pub})
		}
	}
	if len(out) == 0 {
		return nil, &configError{msg: "no public keys given"}
	}
	return out, nil
}

// parseJWKS reads a JSON Web Key Set, keeping the public signing keys it
// can use and counting the entries it skipped (symmetric, private,
// encryption or unknown keys, weak RSA keys). One odd entry does not spoil
// the others, since issuers publish keys of kinds a verifier may not know.
func parseJWKS(body []byte) (keys []key, skipped int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("JWKS is not a JSON object with a \"keys\" list")
	}
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
			skipped++
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			skipped++
			continue
		}
		if checkPublicKey(jwk.Key) != nil {
			skipped++
			continue
		}
		keys = append(keys, key{id: jwk.KeyID, alg: jwk.Algorithm, pub: jwk.Key})
	}
	return keys, skipped, nil
}
