package system

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/roottoken"
	"github.com/cofferhq/coffer/internal/seal"
)

// RootGenerator mints a new root token for a quorum of unseal key share
// holders (see seal.Manager's methods of the same names, which define the
// errors). Every method needs the server unsealed.
type RootGenerator interface {
	GenerateRootStatus(ctx context.Context) (seal.RootGenStatus, error)
	GenerateRootInit(ctx context.Context, otp string) (seal.RootGenStatus, error)
	// GenerateRootUpdate returns, with the last share, the new root token
	// encoded with the OTP.
	GenerateRootUpdate(ctx context.Context, share []byte, nonce string) (seal.RootGenStatus, error)
	GenerateRootCancel(ctx context.Context) error
}

// Two families of routes run one root generation: Vault's
// sys/generate-root/* served without a token (as bare JSON objects), and
// OpenBao's sys/generate-root-token/* behind a token and its policy (as
// response envelopes), which the OpenBao CLI and Go client call.
func (b *backend) generateRootPaths() []*framework.Path {
	attempt := map[string]*framework.FieldSchema{"otp": {Type: framework.TypeString}, "pgp_key": {Type: framework.TypeString}}
	update := map[string]*framework.FieldSchema{"key": {Type: framework.TypeString}, "nonce": {Type: framework.TypeString}}
	var paths []*framework.Path
	for _, fam := range []struct {
		prefix string
		raw    bool
	}{{"generate-root/", true}, {"generate-root-token/", false}} {
		paths = append(paths,
			&framework.Path{
				Pattern: fam.prefix + "attempt",
				Fields:  attempt,
				Operations: map[logical.Operation]framework.OperationFunc{
					logical.ReadOperation:   b.rootGenRead(fam.raw),
					logical.UpdateOperation: b.rootGenInit(fam.raw),
					logical.DeleteOperation: b.rootGenCancel,
				},
				Help: "Start (PUT), read (GET) or cancel (DELETE) the generation of a root token from unseal key shares.",
			},
			&framework.Path{
				Pattern:    fam.prefix + "update",
				Fields:     update,
				Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rootGenUpdate(fam.raw)},
				Help:       "Give one unseal key share to the root generation in progress; the last one returns the encoded token.",
			})
	}
	return append(paths, &framework.Path{
		Pattern: "decode-token",
		Fields:  map[string]*framework.FieldSchema{"encoded_token": {Type: framework.TypeString}, "otp": {Type: framework.TypeString}},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.UpdateOperation: decodeToken,
		},
		Help: "Decode a root token from generate-root with its OTP.",
	})
}

// rootGenBody renders st as Vault's GenerateRootStatusResponse.
func rootGenBody(st seal.RootGenStatus, nonce string) map[string]any {
	if nonce == "" {
		nonce = st.Nonce
	}
	return map[string]any{
		"nonce": nonce, "started": st.Started, "progress": st.Progress, "required": st.Required,
		"complete": st.Complete, "encoded_token": st.EncodedToken, "encoded_root_token": st.EncodedToken,
		"pgp_fingerprint": "", "otp": st.OTP, "otp_length": st.OTPLength,
	}
}

func rootGenResponse(body map[string]any, raw bool) *logical.Response {
	if raw {
		return &logical.Response{Raw: body}
	}
	return logical.DataResponse(body)
}

func (b *backend) rootGenRead(raw bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		st, err := b.core.GenerateRootStatus(ctx)
		if err != nil {
			return nil, err
		}
		return rootGenResponse(rootGenBody(st, ""), raw), nil
	}
}

func (b *backend) rootGenInit(raw bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if d.String("pgp_key") != "" {
			return nil, logical.InvalidRequest("PGP encryption of the root token is not supported; omit pgp_key, and omit otp too to have the server generate one")
		}
		st, err := b.core.GenerateRootInit(ctx, d.String("otp"))
		if err != nil {
			return nil, err
		}
		return rootGenResponse(rootGenBody(st, ""), raw), nil
	}
}

func (b *backend) rootGenCancel(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.core.GenerateRootCancel(ctx)
}

func (b *backend) rootGenUpdate(raw bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		share, err := shareArg(d)
		if err != nil {
			return nil, err
		}
		defer clear(share)
		nonce := d.String("nonce")
		st, err := b.core.GenerateRootUpdate(ctx, share, nonce)
		if err != nil {
			return nil, err
		}
		body := rootGenBody(st, nonce)
		// As Vault: an update reports progress, never OTP details.
		body["started"], body["otp_length"] = true, 0
		return rootGenResponse(body, raw), nil
	}
}

// decodeToken is OpenBao's sys/decode-token: it undoes the OTP encoding,
// touching no state.
func decodeToken(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	enc, otp := d.String("encoded_token"), d.String("otp")
	if enc == "" || otp == "" {
		return nil, logical.InvalidRequest("both 'encoded_token' and 'otp' must be given")
	}
	tok, err := roottoken.Decode(enc, otp)
	if err != nil {
		return nil, logical.InvalidRequest("cannot decode the token: %v", err)
	}
	return logical.DataResponse(map[string]any{"token": tok}), nil
}
