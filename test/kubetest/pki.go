package kubetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the key material of one cluster, all made fresh at start.
type pki struct {
	caPEM         []byte
	servingCert   []byte
	servingKey    []byte
	saKey         *rsa.PrivateKey
	saKeyPEM      []byte
	saPublicPEM   []byte
	saKeyID       string
	adminToken    string
	tokenAuthFile []byte
}

// newPKI makes a CA, a loopback serving certificate signed by it, an RSA
// service-account signing key and a random admin token.
func newPKI() (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "coffer-kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, err
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saKeyDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}

	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	admin := hex.EncodeToString(tok)
	return &pki{
		caPEM:         pemBlock("CERTIFICATE", caDER),
		servingCert:   pemBlock("CERTIFICATE", srvDER),
		servingKey:    pemBlock("PRIVATE KEY", srvKeyDER),
		saKey:         saKey,
		saKeyPEM:      pemBlock("PRIVATE KEY", saKeyDER),
		saPublicPEM:   pemBlock("PUBLIC KEY", saPubDER),
		saKeyID:       kid,
		adminToken:    admin,
		tokenAuthFile: fmt.Appendf(nil, "%s,%s,%s,%q\n", admin, AdminUser, "coffer-kubetest-admin", "system:masters"),
	}, nil
}

// write puts the files kube-apiserver reads into dir, readable by the
// owner only.
func (p *pki) write(dir string) error {
	files := map[string][]byte{
		"ca.crt":      p.caPEM,
		"serving.crt": append(append([]byte{}, p.servingCert...), p.caPEM...),
		"serving.key": p.servingKey,
		"sa.key":      p.saKeyPEM,
		"sa.pub":      p.saPublicPEM,
		"tokens.csv":  p.tokenAuthFile,
		"admin.token": []byte(p.adminToken),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// KeyID returns the key ID kube-apiserver puts in the "kid" header of the
// tokens it signs with pub (the unpadded base64url SHA-256 of the key's
// PKIX DER form), so tests can forge tokens the cluster's JWKS would name.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}
