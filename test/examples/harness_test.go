package examples

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/injector"
)

// enableDatabase does the README's database steps against db: the engine
// at database/, a config, and role "app" (the examples' database/creds/app).
func enableDatabase(t *testing.T, root *api.Client, db *dbtest.Server) {
	t.Helper()
	if err := root.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	user, pw := db.NewRoot(t)
	for path, data := range map[string]map[string]any{
		"database/config/pg": {
			"plugin_name": "postgresql-database-plugin", "connection_url": db.TemplateURL(),
			"username": user, "password": pw, "allowed_roles": []string{"app"},
		},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	if _, err := root.Logical().Write("database/roles/app", map[string]any{
		"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	}); err != nil {
		t.Fatalf("write database/roles/app: %v", err)
	}
}

// connect checks that u is a PostgreSQL URL that logs in and returns its
// user, dropped when the test ends.
func connect(t *testing.T, db *dbtest.Server, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.User == nil || p.User.Username() == "" {
		t.Fatalf("not a connection URL with a user (%d bytes)", len(u))
	}
	user := p.User.Username()
	db.CleanupUsers(t, user)
	if err := db.Login(u); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return user
}

// startInjector serves the injector (agents pointed at addr) on a
// loopback port with a fresh CA's certificate; it returns its URL and the
// CA's PEM.
func startInjector(t *testing.T, addr string) (string, []byte) {
	t.Helper()
	inj, err := injector.New(injector.Config{AgentImage: "registry.example/coffer:test", Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, certFile, keyFile := newServingCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- injector.Serve(ctx, l, injector.NewHandler(inj, nil), certFile, keyFile, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("injector: %v", err)
		}
	})
	return "https://" + l.Addr().String() + injector.MutatePath, caPEM
}

// newServingCert makes a CA and a certificate for 127.0.0.1 signed by it,
// writes the certificate and key to files and returns the CA's PEM.
func newServingCert(t *testing.T) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer examples test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "coffer injector"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600),
	); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile
}

// runAgent runs `coffer agent` with cfg until it exits (exit_after_auth).
func runAgent(t *testing.T, cfg *config.Agent) {
	t.Helper()
	a, err := agent.New(cfg, agent.Options{ExitOnErr: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("agent: %v", err)
	}
}
