package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// benchJWTTokens is how many distinct signed tokens the jwt-login
// workloads cycle through, as distinct pods would present.
const benchJWTTokens = 256

// loginWorkload runs the login workloads: jwt-login and jwt-login-batch
// (the jwt method checking RS256 tokens offline against a configured
// public key, issuing a service or a batch token) and their baselines
// token-create and token-create-batch (a bare auth/token/create of the same
// token type, the least a login can cost). ok is false for other names.
func (s *benchServer) loginWorkload(c *ucli.Context, name string) (bool, error) {
	var (
		path   string
		bodies [][]byte
	)
	switch name {
	case "jwt-login", "jwt-login-batch":
		typ := "service"
		if name == "jwt-login-batch" {
			typ = "batch"
		}
		toks, err := s.jwtSetup(c.Context)
		if err != nil {
			return true, err
		}
		path = "auth/jwt/login"
		for _, t := range toks {
			b, _ := json.Marshal(map[string]string{"role": "bench-" + typ, "jwt": t})
			bodies = append(bodies, b)
		}
	case "token-create", "token-create-batch":
		typ := "service"
		if name == "token-create-batch" {
			typ = "batch"
		}
		path = "auth/token/create"
		bodies = [][]byte{fmt.Appendf(nil, `{"policies":["default"],"ttl":"1h","type":%q}`, typ)}
	default:
		return false, nil
	}
	op := func(ctx context.Context, hc *http.Client, w, seq int) error {
		return s.do(ctx, hc, http.MethodPost, path, bodies[(w*7919+seq)%len(bodies)])
	}
	if d := c.Duration("warmup"); d > 0 {
		bench.Run(c.Context, bench.Config{Clients: c.Int("clients"), Duration: d}, op)
	}
	cpu0, cpuErr := processCPU(s.cmd.Process.Pid)
	res := bench.Run(c.Context, bench.Config{Clients: c.Int("clients"), Duration: c.Duration("duration")}, op)
	cpu1, err := processCPU(s.cmd.Process.Pid)
	report(c.App.Writer, name, res)
	if cpuErr == nil && err == nil && res.Requests > 0 {
		per := (cpu1 - cpu0) / time.Duration(res.Requests)
		fmt.Fprintf(c.App.Writer, "%-9s server CPU %s per request: at most %.0f req/s on 2 otherwise idle cores\n",
			"", per.Round(time.Microsecond), 2/per.Seconds())
	}
	return true, nil
}

// processCPU is the user plus system CPU time a process has used, from
// /proc (in clock ticks of 10 ms).
func processCPU(pid int) (time.Duration, error) { return bench.ProcCPU(pid)() }

// jwtSetup mounts the jwt method once, with a fresh RSA key as
// jwt_validation_pubkeys and one role per token type, and returns tokens
// valid for the next hour.
func (s *benchServer) jwtSetup(ctx context.Context) ([]string, error) {
	if s.jwtTokens != nil {
		return s.jwtTokens, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	cfg, _ := json.Marshal(map[string]any{"jwt_validation_pubkeys": []string{pub}, "bound_issuer": "https://bench.example"})
	steps := []struct{ method, path, body string }{
		{http.MethodPost, "sys/auth/jwt", `{"type":"jwt"}`},
		{http.MethodPut, "auth/jwt/config", string(cfg)},
		{http.MethodPut, "auth/jwt/role/bench-service", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"coffer","bound_claims":{"/kubernetes.io/namespace":"bench"},"claim_mappings":{"/kubernetes.io/namespace":"namespace"},"token_policies":"default","token_ttl":"1h","token_type":"service"}`},
		{http.MethodPut, "auth/jwt/role/bench-batch", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"coffer","bound_claims":{"/kubernetes.io/namespace":"bench"},"claim_mappings":{"/kubernetes.io/namespace":"namespace"},"token_policies":"default","token_ttl":"1h","token_type":"batch"}`},
	}
	for _, st := range steps {
		if err := s.call(ctx, st.method, st.path, st.body, nil); err != nil {
			return nil, err
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range benchJWTTokens {
		sub := fmt.Sprintf("system:serviceaccount:bench:sa-%d", i)
		tok, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": "https://bench.example", "sub": sub, "aud": []string{"coffer"},
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"kubernetes.io": map[string]any{"namespace": "bench", "serviceaccount": map[string]any{"name": fmt.Sprintf("sa-%d", i)}},
		}).Serialize()
		if err != nil {
			return nil, err
		}
		s.jwtTokens = append(s.jwtTokens, tok)
	}
	return s.jwtTokens, nil
}
