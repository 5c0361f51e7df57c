package csiprovider_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
)

func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: parent == nil, BasicConstraintsValid: true}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestMountCertificate: a certificate held in Coffer (certificate,
// private_key, ca_chain, as the pki engine returns them) mounted with
// Azure's object types: cert → the certificate PEM, key → its public key
// PEM, secret → the private key followed by the chain.
func TestMountCertificate(t *testing.T) {
	t.Parallel()
	ca, caKey, caPEM := newCert(t, "ca", nil, nil)
	leaf, leafKey, leafPEM := newCert(t, "web", ca, caKey)
	der, err := x509.MarshalPKCS8PrivateKey(leafKey)
	must(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	c := startCoffer(t, false)
	c.putKV(t, "app/tls", map[string]any{"certificate": string(leafPEM), "private_key": string(keyPEM), "ca_chain": []string{string(caPEM)}})
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{}))
	objects := `
- {objectName: tls.crt, secretPath: secret/data/app/tls, objectType: cert}
- {objectName: tls.pub, secretPath: secret/data/app/tls, objectType: key}
- {objectName: tls.pem, secretPath: secret/data/app/tls, objectType: secret, filePermission: "0400"}
`
	r, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Permission: "420",
		Attributes: attrs(t, kvParams(c, objects), map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:app", "coffer")})})
	if err != nil {
		t.Fatal(err)
	}
	f := files(t, r)
	if f["tls.crt"] != string(leafPEM) {
		t.Errorf("cert = %q", f["tls.crt"])
	}
	pub, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	must(t, err)
	if want := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}); f["tls.pub"] != string(want) {
		t.Errorf("key = %q", f["tls.pub"])
	}
	if want := bytes.Join([][]byte{keyPEM, leafPEM, caPEM}, nil); f["tls.pem"] != string(want) {
		t.Errorf("secret = %q", f["tls.pem"])
	}
	for _, file := range r.GetFiles() {
		if file.GetPath() == "tls.pem" && file.GetMode() != 0o400 {
			t.Errorf("tls.pem mode %o", file.GetMode())
		}
	}
}
