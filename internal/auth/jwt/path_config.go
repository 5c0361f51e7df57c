package jwt

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
)

// configKey is where the config is stored in the mount's view.
const configKey = "config"

// config is the stored auth/<mount>/config, as Vault names its fields.
type config struct {
	OIDCDiscoveryURL     string   `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM   string   `json:"oidc_discovery_ca_pem"`
	JWKSURL              string   `json:"jwks_url"`
	JWKSCAPEM            string   `json:"jwks_ca_pem"`
	JWTValidationPubKeys []string `json:"jwt_validation_pubkeys"`
	JWTSupportedAlgs     []string `json:"jwt_supported_algs"`
	BoundIssuer          string   `json:"bound_issuer"`
	DefaultRole          string   `json:"default_role"`
}

func (b *backend) configPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "config",
		Fields: map[string]*framework.FieldSchema{
			"oidc_discovery_url": {Type: framework.TypeString,
				Description: `OIDC issuer URL, without the .well-known part. Cannot be used with "jwks_url" or "jwt_validation_pubkeys".`},
			"oidc_discovery_ca_pem": {Type: framework.TypeString,
				Description: "PEM CA certificate(s) trusted for the discovery URL; the system's when empty."},
			"jwks_url": {Type: framework.TypeString,
				Description: `JWKS URL to fetch the signing keys from. Cannot be used with "oidc_discovery_url" or "jwt_validation_pubkeys".`},
			"jwks_ca_pem": {Type: framework.TypeString,
				Description: "PEM CA certificate(s) trusted for the JWKS URL; the system's when empty."},
			"jwt_validation_pubkeys": {Type: framework.TypeStringSlice,
				Description: `PEM public keys to check signatures with, offline. Cannot be used with "jwks_url" or "oidc_discovery_url".`},
			"jwt_supported_algs": {Type: framework.TypeStringSlice,
				Description: "Signing algorithms accepted; RS256 when empty. HMAC and none are never accepted."},
			"bound_issuer": {Type: framework.TypeString,
				Description: "The value the 'iss' claim must have; not checked when empty."},
			"default_role": {Type: framework.TypeLowerString,
				Description: "The role used when a login names none."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readConfig,
			logical.UpdateOperation: b.writeConfig,
		},
		Help: "Configure where the signing keys come from, the bound issuer and the accepted algorithms.",
	}}
}

func (b *backend) readConfig(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.loadState(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	c := st.cfg
	return logical.DataResponse(map[string]any{
		"oidc_discovery_url":     c.OIDCDiscoveryURL,
		"oidc_discovery_ca_pem":  c.OIDCDiscoveryCAPEM,
		"jwks_url":               c.JWKSURL,
		"jwks_ca_pem":            c.JWKSCAPEM,
		"jwt_validation_pubkeys": nonNil(c.JWTValidationPubKeys),
		"jwt_supported_algs":     nonNil(c.JWTSupportedAlgs),
		"bound_issuer":           c.BoundIssuer,
		"default_role":           c.DefaultRole,
	}), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeConfig replaces the whole config, as Vault does: it must name
// exactly one key source, which is checked now (keys parsed, or the
// discovery document and JWKS fetched) so that a mistake shows at once
// rather than at the first login.
func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c := &config{
		OIDCDiscoveryURL:   strings.TrimSpace(d.String("oidc_discovery_url")),
		OIDCDiscoveryCAPEM: d.String("oidc_discovery_ca_pem"),
		JWKSURL:            strings.TrimSpace(d.String("jwks_url")),
		JWKSCAPEM:          d.String("jwks_ca_pem"),
		BoundIssuer:        d.String("bound_issuer"),
		DefaultRole:        d.String("default_role"),
	}
	for _, k := range d.Strings("jwt_validation_pubkeys") {
		if strings.TrimSpace(k) != "" {
			c.JWTValidationPubKeys = append(c.JWTValidationPubKeys, k)
		}
	}
	for _, a := range d.Strings("jwt_supported_algs") {
		if !slices.Contains(c.JWTSupportedAlgs, a) {
			c.JWTSupportedAlgs = append(c.JWTSupportedAlgs, a)
		}
	}
	v, err := c.validate(ctx, b.verifierOptions)
	if err != nil {
		return nil, err
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if err := logical.PutJSON(ctx, b.storage, configKey, c); err != nil {
		return nil, err
	}
	b.state.Store(&configState{cfg: c, verifier: v})
	return nil, nil
}

// validate checks c as Vault does, with Vault's messages where it has
// them, and returns the verifier it built (already holding remote keys).
func (c *config) validate(ctx context.Context, opts func(*jwtverify.Config)) (*jwtverify.Verifier, error) {
	sources := 0
	for _, set := range []bool{c.OIDCDiscoveryURL != "", c.JWKSURL != "", len(c.JWTValidationPubKeys) > 0} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return nil, logical.InvalidRequest("exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set")
	case c.OIDCDiscoveryCAPEM != "" && c.OIDCDiscoveryURL == "":
		return nil, logical.InvalidRequest("'oidc_discovery_ca_pem' is set but 'oidc_discovery_url' is not")
	case c.JWKSCAPEM != "" && c.JWKSURL == "":
		return nil, logical.InvalidRequest("'jwks_ca_pem' is set but 'jwks_url' is not")
	}
	if err := jwtverify.CheckAlgorithms(c.JWTSupportedAlgs); err != nil {
		return nil, logical.InvalidRequest("invalid jwt_supported_algs: %v", err)
	}
	v, err := c.verifier(opts)
	if err != nil {
		return nil, err
	}
	if err := v.Check(ctx); err != nil {
		what := "jwks URL"
		if c.OIDCDiscoveryURL != "" {
			what = "oidc discovery URL"
		}
		return nil, logical.InvalidRequest("error checking %s: %v", what, err)
	}
	return v, nil
}

// verifier builds the verifier of c without touching the network.
func (c *config) verifier(opts func(*jwtverify.Config)) (*jwtverify.Verifier, error) {
	vc := jwtverify.Config{
		PublicKeys:   c.JWTValidationPubKeys,
		JWKSURL:      c.JWKSURL,
		JWKSCAPEM:    c.JWKSCAPEM,
		DiscoveryURL: c.OIDCDiscoveryURL, DiscoveryCAPEM: c.OIDCDiscoveryCAPEM,
	}
	opts(&vc)
	v, err := jwtverify.New(vc)
	if errors.Is(err, jwtverify.ErrConfig) {
		return nil, logical.InvalidRequest("%v", err)
	}
	return v, err
}

// loadState returns the config and its verifier, loading them from storage
// on first use; nil when no config was written.
func (b *backend) loadState(ctx context.Context) (*configState, error) {
	if st := b.state.Load(); st != nil {
		return st, nil
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if st := b.state.Load(); st != nil {
		return st, nil
	}
	var c config
	found, err := logical.GetJSON(ctx, b.storage, configKey, &c)
	if err != nil || !found {
		return nil, err
	}
	v, err := c.verifier(b.verifierOptions)
	if err != nil {
		// Stored by a writer that validated it: only a change of the rules
		// since could make it unusable.
		return nil, logical.InvalidRequest("the stored configuration is no longer valid, write it again: %v", err)
	}
	st := &configState{cfg: &c, verifier: v}
	b.state.Store(st)
	return st, nil
}
