package kubernetes

import (
	"context"
	"crypto/x509"
	"errors"
	"net/url"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
)

// configKey is where the config is stored in the mount's view.
const configKey = "config"

// defaultIssuer is the "iss" Vault expects in TokenReview mode when issuer
// validation is on and no issuer is configured: that of legacy
// secret-based tokens.
const defaultIssuer = "kubernetes/serviceaccount"

// config is the stored auth/<mount>/config, in Vault's field names plus
// Coffer's oidc_discovery_url (offline mode) and its CA.
type config struct {
	Host                 string   `json:"kubernetes_host"`
	CACert               string   `json:"kubernetes_ca_cert"`
	TokenReviewerJWT     string   `json:"token_reviewer_jwt"`
	PEMKeys              []string `json:"pem_keys"`
	Issuer               string   `json:"issuer"`
	DisableISSValidation bool     `json:"disable_iss_validation"`
	DisableLocalCAJWT    bool     `json:"disable_local_ca_jwt"`
	OIDCDiscoveryURL     string   `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM   string   `json:"oidc_discovery_ca_pem"`
}

// offline reports whether tokens are checked against the JWKS rather than
// by the TokenReview API.
func (c *config) offline() bool { return c.OIDCDiscoveryURL != "" }

// configState is the config with what was built from it.
type configState struct {
	cfg *config
	api *kubeAPI
	// verifier checks signatures locally: the discovered JWKS (offline
	// mode) or pem_keys (TokenReview mode); nil in TokenReview mode
	// without pem_keys.
	verifier *jwtverify.Verifier
}

func (b *backend) configPaths() []*framework.Path {
	str := func(desc string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
	}
	return []*framework.Path{{
		Pattern: "config",
		Fields: map[string]*framework.FieldSchema{
			"kubernetes_host":    str("URL of the Kubernetes API server (https://host:port); a bare host:port means https."),
			"kubernetes_ca_cert": str("PEM CA certificate(s) of the API server; the pod's own CA, else the system's, when empty."),
			"token_reviewer_jwt": str("Service-account token used to call the TokenReview API (needs system:auth-delegator); the pod's own, else the login token itself, when empty. Never returned."),
			"pem_keys": {Type: framework.TypeStringSlice,
				Description: "TokenReview mode: PEM public keys or certificates to check signatures with before asking the API."},
			"issuer": str("The 'iss' tokens must carry. Offline mode: the discovery URL when empty. TokenReview mode with pem_keys: kubernetes/serviceaccount when empty, checked unless disable_iss_validation."),
			"disable_iss_validation": {Type: framework.TypeBool, Default: true,
				Description: "TokenReview mode with pem_keys: do not check 'iss' locally (the API server checks it anyway). Offline mode always checks it."},
			"disable_local_ca_jwt": {Type: framework.TypeBool,
				Description: "Do not use the pod's own service-account token and CA when running in Kubernetes."},
			"oidc_discovery_url":    str("Set to the cluster's service-account issuer URL to check tokens offline against its OIDC discovery document and JWKS instead of calling TokenReview per login."),
			"oidc_discovery_ca_pem": str("PEM CA certificate(s) trusted for the discovery URL and JWKS; kubernetes_ca_cert (or the pod's CA) when empty."),
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readConfig,
			logical.UpdateOperation: b.writeConfig,
		},
		Help: "Configure the cluster: API server, CA, reviewer token, and how tokens are checked (TokenReview, or offline with oidc_discovery_url).",
	}}
}

// readConfig answers as Vault does, without the reviewer token; whether
// one is set is token_reviewer_jwt_set.
func (b *backend) readConfig(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.loadState(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	c := st.cfg
	keys := c.PEMKeys
	if keys == nil {
		keys = []string{}
	}
	return logical.DataResponse(map[string]any{
		"kubernetes_host":        c.Host,
		"kubernetes_ca_cert":     c.CACert,
		"token_reviewer_jwt_set": c.TokenReviewerJWT != "",
		"pem_keys":               keys,
		"issuer":                 c.Issuer,
		"disable_iss_validation": c.DisableISSValidation,
		"disable_local_ca_jwt":   c.DisableLocalCAJWT,
		"oidc_discovery_url":     c.OIDCDiscoveryURL,
		"oidc_discovery_ca_pem":  c.OIDCDiscoveryCAPEM,
	}), nil
}

// writeConfig replaces the whole config, as Vault does. In offline mode the
// discovery document and JWKS are fetched now, so a mistake shows at once.
func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c := &config{
		Host:                 strings.TrimSpace(d.String("kubernetes_host")),
		CACert:               strings.TrimSpace(d.String("kubernetes_ca_cert")),
		TokenReviewerJWT:     strings.TrimSpace(d.String("token_reviewer_jwt")),
		Issuer:               strings.TrimSpace(d.String("issuer")),
		DisableISSValidation: d.Bool("disable_iss_validation"),
		DisableLocalCAJWT:    d.Bool("disable_local_ca_jwt"),
		OIDCDiscoveryURL:     strings.TrimSpace(d.String("oidc_discovery_url")),
		OIDCDiscoveryCAPEM:   strings.TrimSpace(d.String("oidc_discovery_ca_pem")),
	}
	for _, k := range d.Strings("pem_keys") {
		if strings.TrimSpace(k) != "" {
			c.PEMKeys = append(c.PEMKeys, k)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	st, err := b.build(c)
	if err != nil {
		return nil, err
	}
	if c.offline() {
		if err := st.verifier.Check(ctx); err != nil {
			return nil, logical.InvalidRequest("error checking oidc_discovery_url: %v", err)
		}
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if err := logical.PutJSON(ctx, b.storage, configKey, c); err != nil {
		return nil, err
	}
	b.state.Store(st)
	return nil, nil
}

// validate checks c's fields on their own, with Vault's messages where it
// has them.
func (c *config) validate() error {
	if c.Host == "" {
		return logical.InvalidRequest("no host provided")
	}
	if !strings.Contains(c.Host, "://") {
		c.Host = "https://" + c.Host
	}
	if u, err := url.Parse(c.Host); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return logical.InvalidRequest("kubernetes_host must be a URL such as https://10.0.0.1:443")
	}
	for name, pemText := range map[string]string{"kubernetes_ca_cert": c.CACert, "oidc_discovery_ca_pem": c.OIDCDiscoveryCAPEM} {
		if pemText != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(pemText)) {
			return logical.InvalidRequest("%s holds no PEM certificate", name)
		}
	}
	if c.TokenReviewerJWT != "" && strings.Count(c.TokenReviewerJWT, ".") != 2 {
		return logical.InvalidRequest("token_reviewer_jwt is not a JWT (three dot-separated parts)")
	}
	for i, k := range c.PEMKeys {
		if _, err := jwtverify.ParsePublicKeysPEM(k); err != nil {
			return logical.InvalidRequest("pem_keys[%d]: %v", i, err)
		}
	}
	switch {
	case c.offline() && len(c.PEMKeys) > 0:
		return logical.InvalidRequest("pem_keys cannot be used with oidc_discovery_url: in offline mode the keys come from the cluster's JWKS")
	case !c.offline() && c.OIDCDiscoveryCAPEM != "":
		return logical.InvalidRequest("'oidc_discovery_ca_pem' is set but 'oidc_discovery_url' is not")
	}
	return nil
}

// build makes the API client and verifier of c without touching the
// network.
func (b *backend) build(c *config) (*configState, error) {
	api := &kubeAPI{host: c.Host, ca: b.caSource(c), bearer: b.bearerSource(c)}
	st := &configState{cfg: c, api: api}
	var vc jwtverify.Config
	switch {
	case c.offline():
		hc, err := discoveryClient(c, api)
		if err != nil {
			return nil, err
		}
		vc = jwtverify.Config{DiscoveryURL: c.OIDCDiscoveryURL, HTTPClient: hc}
	case len(c.PEMKeys) > 0:
		vc = jwtverify.Config{PublicKeys: c.PEMKeys}
	default:
		return st, nil
	}
	b.verifierOptions(&vc)
	v, err := jwtverify.New(vc)
	if errors.Is(err, jwtverify.ErrConfig) {
		return nil, logical.InvalidRequest("%v", err)
	}
	if err != nil {
		return nil, err
	}
	st.verifier = v
	return st, nil
}

// caSource returns the CA the API client trusts: the configured one, else
// the pod's own (re-read as it rotates), else none (the system's roots).
func (b *backend) caSource(c *config) func() []byte {
	if c.CACert != "" {
		ca := []byte(c.CACert)
		return func() []byte { return ca }
	}
	if c.DisableLocalCAJWT {
		return func() []byte { return nil }
	}
	return b.localCA.Read
}

// bearerSource returns the reviewer token: the configured one, else the
// pod's own (re-read as the kubelet rotates it), else "".
func (b *backend) bearerSource(c *config) func() string {
	if c.TokenReviewerJWT != "" {
		t := c.TokenReviewerJWT
		return func() string { return t }
	}
	if c.DisableLocalCAJWT {
		return func() string { return "" }
	}
	return func() string { return string(b.localToken.Read()) }
}

// loadState returns the config and what was built from it, loading it on
// first use; nil when no config was written.
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
	st, err := b.build(&c)
	if err != nil {
		return nil, logical.InvalidRequest("the stored configuration is no longer valid, write it again: %v", err)
	}
	b.state.Store(st)
	return st, nil
}
