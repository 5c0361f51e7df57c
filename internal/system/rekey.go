package system

import (
	"context"
	"encoding/base64"
	"encoding/hex"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/seal"
)

// Rekeyer replaces the unseal key and its shares (see seal.Manager's
// methods of the same names, which define the errors). Every method needs
// the server unsealed.
type Rekeyer interface {
	RekeyStatus(ctx context.Context) (seal.RekeyStatus, error)
	RekeyInit(ctx context.Context, shares, threshold int, verify bool) (seal.RekeyStatus, error)
	// RekeyUpdate returns a nil result until the last current share.
	RekeyUpdate(ctx context.Context, share []byte, nonce string) (*seal.RekeyResult, error)
	RekeyCancel(ctx context.Context) error
}

// RekeyVerifier checks the new shares of a rekey before they take effect.
type RekeyVerifier interface {
	RekeyVerifyStatus(ctx context.Context) (seal.RekeyVerifyStatus, error)
	// RekeyVerify returns true, with the verification nonce, once the rekey
	// has taken effect.
	RekeyVerify(ctx context.Context, share []byte, nonce string) (bool, string, error)
	RekeyVerifyRestart(ctx context.Context) (seal.RekeyVerifyStatus, error)
}

// errNoRecoveryKeys answers the recovery-key rekey paths: Coffer's seals
// have no recovery keys.
func errNoRecoveryKeys() error {
	return logical.InvalidRequest("recovery rekeying not supported: this server has no recovery keys")
}

func (b *backend) rekeyPaths() []*framework.Path {
	shareFields := map[string]*framework.FieldSchema{"key": {Type: framework.TypeString}, "nonce": {Type: framework.TypeString}}
	noRecovery := func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
		return nil, errNoRecoveryKeys()
	}
	return []*framework.Path{
		{
			Pattern: "rekey/init",
			Fields: map[string]*framework.FieldSchema{
				"secret_shares":        {Type: framework.TypeInt},
				"secret_threshold":     {Type: framework.TypeInt},
				"require_verification": {Type: framework.TypeBool},
				"pgp_keys":             {Type: framework.TypeStringSlice},
				"backup":               {Type: framework.TypeBool},
				"stored_shares":        {Type: framework.TypeInt},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.rekeyStatus,
				logical.UpdateOperation: b.rekeyInit,
				logical.DeleteOperation: b.rekeyCancel,
			},
			Help: "Start (PUT), read (GET) or cancel (DELETE) a rekey of the unseal key shares.",
		},
		{
			Pattern:    "rekey/update",
			Fields:     shareFields,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rekeyUpdate},
			Help:       "Give one current unseal key share to the rekey in progress; the last one returns the new shares.",
		},
		{
			Pattern: "rekey/verify",
			Fields:  shareFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.rekeyVerifyStatus,
				logical.UpdateOperation: b.rekeyVerify,
				logical.DeleteOperation: b.rekeyVerifyRestart,
			},
			Help: "Give back one of the new shares of a rekey that requires verification; a threshold of them puts the new key in force.",
		},
		{
			Pattern: "rekey/(backup|recovery-key-backup)",
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
					return nil, logical.InvalidRequest("no backed-up keys found")
				},
				logical.DeleteOperation: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
					return nil, nil
				},
			},
			Help: "Backed-up PGP-encrypted shares of a rekey; Coffer keeps none, having no PGP.",
		},
		{
			Pattern: "rekey-recovery-key/(init|update|verify)",
			Fields:  shareFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: noRecovery, logical.UpdateOperation: noRecovery, logical.DeleteOperation: noRecovery,
			},
			Help: "Rekey of recovery keys, which Coffer's seals do not have.",
		},
	}
}

func rekeyStatusBody(st seal.RekeyStatus) map[string]any {
	body := map[string]any{
		"nonce": st.Nonce, "started": st.Started, "t": st.T, "n": st.N, "progress": st.Progress,
		"required": st.Required, "pgp_fingerprints": nil, "backup": false,
		"verification_required": st.VerificationRequired,
	}
	if st.VerificationNonce != "" {
		body["verification_nonce"] = st.VerificationNonce
	}
	return body
}

func (b *backend) rekeyStatus(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.RekeyStatus(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: rekeyStatusBody(st)}, nil
}

func (b *backend) rekeyInit(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if len(d.Strings("pgp_keys")) > 0 {
		return nil, logical.InvalidRequest("PGP-encrypted key shares are not supported; omit pgp_keys")
	}
	if d.Bool("backup") {
		return nil, logical.InvalidRequest("a backup of the new key shares needs PGP-encrypted shares, which are not supported; omit backup")
	}
	st, err := b.core.RekeyInit(ctx, d.Int("secret_shares"), d.Int("secret_threshold"), d.Bool("require_verification"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: rekeyStatusBody(st)}, nil
}

func (b *backend) rekeyCancel(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.core.RekeyCancel(ctx)
}

// shareArg decodes the "key" field: a share in hex or base64.
func shareArg(d *framework.FieldData) ([]byte, error) {
	key := d.String("key")
	if key == "" {
		return nil, logical.InvalidRequest("'key' must be specified in request body as JSON")
	}
	return seal.DecodeShare(key)
}

func (b *backend) rekeyUpdate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	share, err := shareArg(d)
	if err != nil {
		return nil, err
	}
	defer clear(share)
	res, err := b.core.RekeyUpdate(ctx, share, d.String("nonce"))
	if err != nil {
		return nil, err
	}
	if res == nil {
		return b.rekeyStatus(ctx, req, d)
	}
	hexKeys := make([]string, len(res.Shares))
	b64Keys := make([]string, len(res.Shares))
	for i, s := range res.Shares {
		hexKeys[i] = hex.EncodeToString(s)
		b64Keys[i] = base64.StdEncoding.EncodeToString(s)
		clear(s)
	}
	body := map[string]any{
		"nonce": d.String("nonce"), "complete": true, "keys": hexKeys, "keys_base64": b64Keys,
		"pgp_fingerprints": nil, "backup": false, "verification_required": res.VerificationRequired,
	}
	if res.VerificationNonce != "" {
		body["verification_nonce"] = res.VerificationNonce
	}
	return &logical.Response{Raw: body}, nil
}

func verifyStatusBody(st seal.RekeyVerifyStatus) map[string]any {
	return map[string]any{"nonce": st.Nonce, "started": st.Started, "t": st.T, "n": st.N, "progress": st.Progress}
}

func (b *backend) rekeyVerifyStatus(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.RekeyVerifyStatus(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: verifyStatusBody(st)}, nil
}

func (b *backend) rekeyVerify(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	share, err := shareArg(d)
	if err != nil {
		return nil, err
	}
	defer clear(share)
	done, nonce, err := b.core.RekeyVerify(ctx, share, d.String("nonce"))
	if err != nil {
		return nil, err
	}
	if !done {
		return b.rekeyVerifyStatus(ctx, req, d)
	}
	return &logical.Response{Raw: map[string]any{"nonce": nonce, "complete": true}}, nil
}

func (b *backend) rekeyVerifyRestart(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	st, err := b.core.RekeyVerifyRestart(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: verifyStatusBody(st)}, nil
}
