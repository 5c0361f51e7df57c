package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// ServerName is the name in the cluster certificate, and the one a node
// checks when it dials another: members are found by address, and what
// proves membership is the certificate, not a host name.
const ServerName = "coffer-cluster"

// keyringValidity is how long a cluster certificate is valid. Rotation is
// not implemented; ten years outlives the hardware.
const keyringValidity = 10 * 365 * 24 * time.Hour

// Keyring is the cluster's TLS identity: a DER certificate and its PKCS#8
// private key. It is a secret: the core keeps it in the barrier and never
// logs it.
type Keyring struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// NewKeyring generates a fresh cluster identity: an ECDSA P-256 key and a
// self-signed CA certificate for ServerName, good for both ends of a
// connection.
func NewKeyring() (*Keyring, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate cluster key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ServerName},
		DNSNames:              []string{ServerName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(keyringValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create cluster certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode cluster key: %w", err)
	}
	return &Keyring{Cert: der, Key: pk}, nil
}

// material is a Keyring parsed for crypto/tls.
type material struct {
	cert tls.Certificate
	pool *x509.CertPool
}

func (k *Keyring) parse() (*material, error) {
	if k == nil {
		return nil, ErrBadKeyring
	}
	leaf, err := x509.ParseCertificate(k.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrBadKeyring, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key does not parse", ErrBadKeyring)
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok || !ek.PublicKey.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match the certificate", ErrBadKeyring)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &material{cert: tls.Certificate{Certificate: [][]byte{k.Cert}, PrivateKey: ek, Leaf: leaf}, pool: pool}, nil
}

func (m *material) serverConfig(protos []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.pool,
		NextProtos:   protos,
	}
}

func (m *material) clientConfig(proto string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		RootCAs:      m.pool,
		ServerName:   ServerName,
		NextProtos:   []string{proto},
	}
}
