package csiprovider

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
)

// secretData returns the key/values of a read: for a KV v2 read (data and
// metadata), the inner data.
func secretData(r *apiResponse) (map[string]any, bool) {
	d := r.Data
	inner, ok1 := d["data"].(map[string]any)
	_, ok2 := d["metadata"].(map[string]any)
	if ok1 && ok2 && len(d) == 2 {
		return inner, true
	}
	return d, false
}

// content renders object o from the data of its response. Errors are
// MountErrors naming the object; they never quote a value.
func content(o *object, data map[string]any) ([]byte, error) {
	switch o.Type {
	case "cert":
		certs, err := certBlocks(o, data)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(certs[0]), nil
	case "key":
		return publicKey(o, data)
	}
	if o.Key == "" {
		if isCertificate(data) {
			return keyAndChain(o, data)
		}
		return json.Marshal(data)
	}
	v, ok := data[o.Key]
	if !ok {
		return nil, mountErr(CodeObjectNotFound, "object %q: key %q is not in %s (it has %s)", o.Name, o.Key, o.Path, keyNames(data))
	}
	var b []byte
	if s, ok := v.(string); ok {
		b = []byte(s)
	} else {
		b, _ = json.Marshal(v)
	}
	return decode(o, b)
}

func decode(o *object, b []byte) ([]byte, error) {
	var out []byte
	var err error
	switch o.Encoding {
	case "base64":
		out, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	case "hex":
		out, err = hex.DecodeString(strings.TrimSpace(string(b)))
	default:
		return b, nil
	}
	if err != nil {
		return nil, mountErr(CodeBadParameters, "object %q: encoding %s: the value of %s is not %s", o.Name, o.Encoding, o.Path, o.Encoding)
	}
	return out, nil
}

func keyNames(data map[string]any) string {
	if len(data) == 0 {
		return "no keys"
	}
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) > 20 {
		names = append(names[:20], "…")
	}
	return "keys " + strings.Join(names, ", ")
}

// A certificate held in Coffer is a secret with a "certificate" PEM (the
// leaf, possibly followed by its chain) and a "private_key" PEM, optionally
// "ca_chain" (a PEM text or a list of them) as the pki engine returns it.
func isCertificate(data map[string]any) bool {
	c, ok1 := data["certificate"].(string)
	k, ok2 := data["private_key"].(string)
	return ok1 && ok2 && strings.Contains(c, "-----BEGIN CERTIFICATE") && strings.Contains(k, "PRIVATE KEY-----")
}

func pemBlocks(text, typ string) []*pem.Block {
	var out []*pem.Block
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		if typ == "" || b.Type == typ {
			out = append(out, b)
		}
	}
}

// certBlocks returns the certificate and its chain, leaf first, from
// secretKey (default "certificate") and ca_chain.
func certBlocks(o *object, data map[string]any) ([]*pem.Block, error) {
	field := o.Key
	if field == "" {
		field = "certificate"
	}
	s, _ := data[field].(string)
	certs := pemBlocks(s, "CERTIFICATE")
	if len(certs) == 0 {
		return nil, mountErr(CodeObjectNotFound, "object %q (objectType %s): %s has no PEM certificate under key %q", o.Name, o.Type, o.Path, field)
	}
	var chain []string
	switch c := data["ca_chain"].(type) {
	case string:
		chain = []string{c}
	case []any:
		for _, x := range c {
			if s, ok := x.(string); ok {
				chain = append(chain, s)
			}
		}
	}
	for _, c := range chain {
		for _, b := range pemBlocks(c, "CERTIFICATE") {
			if !slices.ContainsFunc(certs, func(x *pem.Block) bool { return string(x.Bytes) == string(b.Bytes) }) {
				certs = append(certs, b)
			}
		}
	}
	return certs, nil
}

// publicKey renders objectType key: the public key of the certificate (or
// a "PUBLIC KEY" PEM stored under secretKey) as a PKIX "PUBLIC KEY" PEM.
func publicKey(o *object, data map[string]any) ([]byte, error) {
	if o.Key != "" {
		s, _ := data[o.Key].(string)
		if pk := pemBlocks(s, "PUBLIC KEY"); len(pk) > 0 {
			return pem.EncodeToMemory(pk[0]), nil
		}
	}
	certs, err := certBlocks(o, data)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certs[0].Bytes)
	if err != nil {
		return nil, mountErr(CodeObjectNotFound, "object %q (objectType key): the certificate in %s does not parse: %v", o.Name, o.Path, err)
	}
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return nil, mountErr(CodeObjectNotFound, "object %q (objectType key): %v", o.Name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// keyAndChain renders objectType secret of a certificate as Azure's
// provider does: the private key followed by the certificate and its chain.
func keyAndChain(o *object, data map[string]any) ([]byte, error) {
	keys := pemBlocks(data["private_key"].(string), "")
	certs, err := certBlocks(&object{Name: o.Name, Type: o.Type, Path: o.Path}, data)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, b := range keys {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			out = append(out, pem.EncodeToMemory(b)...)
		}
	}
	for _, b := range certs {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out, nil
}
