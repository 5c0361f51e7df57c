package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/rogpeppe/go-internal/testscript"
)

// jwtKey writes a fresh RSA key pair to jwt-priv.pem and jwt-pub.pem in the
// work directory, for jwtSign and for the jwt method's config.
func jwtKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: jwtkey")
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	ts.Check(err)
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	ts.Check(err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	ts.Check(err)
	dir := ts.Getenv("WORK")
	ts.Check(os.WriteFile(filepath.Join(dir, "jwt-priv.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600))
	ts.Check(os.WriteFile(filepath.Join(dir, "jwt-pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))
}

// jwtSign writes to FILE (with a trailing newline, as an editor would) an
// RS256 token signed with jwt-priv.pem: "jwtsign FILE sub=x aud=y
// exp=-1h". exp, nbf and iat take durations from now; exp defaults to 10
// minutes, iat to now; other claims are strings.
func jwtSign(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: jwtsign FILE [claim=value...]")
	}
	block, _ := pem.Decode([]byte(ts.ReadFile("jwt-priv.pem")))
	if block == nil {
		ts.Fatalf("run jwtkey first")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	ts.Check(err)
	now := time.Now()
	claims := map[string]any{"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for _, a := range args[1:] {
		name, val, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("claim %q is not name=value", a)
		}
		switch name {
		case "exp", "nbf", "iat":
			d, err := time.ParseDuration(val)
			ts.Check(err)
			claims[name] = now.Add(d).Unix()
		default:
			claims[name] = val
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	ts.Check(err)
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), args[0]), []byte(tok+"\n"), 0o600))
}
