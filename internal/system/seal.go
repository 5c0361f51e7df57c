package system

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/seal"
)

func (b *backend) sealPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "init",
			Fields: map[string]*framework.FieldSchema{
				"secret_shares":      {Type: framework.TypeInt},
				"secret_threshold":   {Type: framework.TypeInt},
				"pgp_keys":           {Type: framework.TypeStringSlice},
				"root_token_pgp_key": {Type: framework.TypeString},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.initStatus,
				logical.UpdateOperation: b.initialize,
			},
			Help: "Initialise the server: create the keys and return the unseal key shares and the root token once.",
		},
		{
			Pattern: "unseal",
			Fields: map[string]*framework.FieldSchema{
				"key":   {Type: framework.TypeString},
				"reset": {Type: framework.TypeBool},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.unseal},
			Help:       "Submit one unseal key share.",
		},
		{
			Pattern:    "seal-status",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.sealStatus},
		},
		{
			Pattern:    "seal",
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.seal},
			Help:       "Seal the server: drop every key from memory.",
		},
		{
			Pattern: "health",
			Fields: map[string]*framework.FieldSchema{
				"standbyok": {Type: framework.TypeBool}, "perfstandbyok": {Type: framework.TypeBool},
				"activecode": {Type: framework.TypeInt}, "standbycode": {Type: framework.TypeInt},
				"sealedcode": {Type: framework.TypeInt}, "uninitcode": {Type: framework.TypeInt},
				"drsecondarycode": {Type: framework.TypeInt}, "performancestandbycode": {Type: framework.TypeInt},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.health},
		},
		{
			Pattern:    "leader",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.leader},
		},
	}
}

func (b *backend) initStatus(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.SealStatus(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: map[string]bool{"initialized": st.Initialized}}, nil
}

func (b *backend) initialize(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if len(d.Strings("pgp_keys")) > 0 || d.String("root_token_pgp_key") != "" {
		return nil, logical.InvalidRequest("PGP-encrypted key shares are not supported; omit pgp_keys and root_token_pgp_key")
	}
	res, err := b.core.Initialize(ctx, d.Int("secret_shares"), d.Int("secret_threshold"))
	if err != nil {
		return nil, err
	}
	hexKeys := make([]string, len(res.Keys))
	b64Keys := make([]string, len(res.Keys))
	for i, k := range res.Keys {
		hexKeys[i] = hex.EncodeToString(k)
		b64Keys[i] = base64.StdEncoding.EncodeToString(k)
	}
	return &logical.Response{Raw: map[string]any{
		"keys": hexKeys, "keys_base64": b64Keys, "root_token": res.RootToken,
		"recovery_keys": nil, "recovery_keys_base64": nil,
	}}, nil
}

func (b *backend) unseal(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	reset := d.Bool("reset")
	key := d.String("key")
	if key == "" && !reset {
		return nil, logical.InvalidRequest("'key' must be specified in request body as JSON, or 'reset' set to true")
	}
	var share []byte
	if key != "" {
		var err error
		if share, err = seal.DecodeShare(key); err != nil {
			return nil, err
		}
	}
	st, err := b.core.Unseal(ctx, share, reset)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: b.decorate(st)}, nil
}

func (b *backend) sealStatus(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.SealStatus(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: b.decorate(st)}, nil
}

func (b *backend) decorate(st SealStatus) SealStatus {
	st.Version = b.info.Version
	st.StorageType = b.info.StorageType
	if !st.Sealed && st.Initialized {
		if b.info.ClusterName != nil {
			st.ClusterName = b.info.ClusterName()
		}
		if b.info.ClusterID != nil {
			st.ClusterID = b.info.ClusterID()
		}
	}
	return st
}

func (b *backend) seal(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.core.Seal(ctx)
}

// health answers with Vault's status codes: 200 active, 429 standby (200
// with standbyok), 501 not initialised, 503 sealed; each overridable by a
// query parameter.
func (b *backend) health(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.SealStatus(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkHealthCodes(d); err != nil {
		return nil, err
	}
	code := func(name string, def int) int {
		if v, ok := d.GetOk(name); ok && v.(int) > 0 {
			return v.(int)
		}
		return def
	}
	status := code("activecode", http.StatusOK)
	standby := st.Initialized && !st.Sealed && b.standby()
	switch {
	case !st.Initialized:
		status = code("uninitcode", http.StatusNotImplemented)
	case st.Sealed:
		status = code("sealedcode", http.StatusServiceUnavailable)
	case standby && !d.Bool("standbyok"):
		status = code("standbycode", http.StatusTooManyRequests)
	}
	body := map[string]any{
		"initialized": st.Initialized, "sealed": st.Sealed, "standby": standby,
		"performance_standby": false, "replication_performance_mode": "disabled",
		"replication_dr_mode": "disabled", "server_time_utc": time.Now().Unix(),
		"version": b.info.Version, "enterprise": false,
	}
	if st.Initialized && !st.Sealed {
		if b.info.ClusterName != nil {
			body["cluster_name"] = b.info.ClusterName()
		}
		if b.info.ClusterID != nil {
			body["cluster_id"] = b.info.ClusterID()
		}
	}
	return &logical.Response{Raw: body, RawStatus: status}, nil
}

// seconds renders a duration as Vault's integer seconds.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// healthCodeFields are sys/health's status overrides.
var healthCodeFields = []string{"activecode", "standbycode", "sealedcode", "uninitcode",
	"drsecondarycode", "performancestandbycode"}

// checkHealthCodes refuses an override that is not an HTTP status code
// net/http can write (it panics on one outside 100–999), so a bad query is
// a 400 naming the parameter rather than a dropped connection.
func checkHealthCodes(d *framework.FieldData) error {
	for _, name := range healthCodeFields {
		v, ok := d.GetOk(name)
		if !ok {
			continue
		}
		if n, _ := v.(int); n != 0 && (n < 200 || n > 599) {
			return logical.InvalidRequest("%s must be an HTTP status code from 200 to 599, not %d", name, n)
		}
	}
	return nil
}
