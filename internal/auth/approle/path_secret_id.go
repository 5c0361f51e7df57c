package approle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// secretIDFields are the settings a new secret ID may take.
func secretIDFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"role_name": roleNameField(),
		"metadata": {Type: framework.TypeRaw,
			Description: "Key-value metadata for the secret ID, reported in the login's token metadata: a JSON object, a JSON string of one, or k=v pairs separated by commas."},
		"cidr_list": {Type: framework.TypeStringSlice,
			Description: "IP addresses or CIDR blocks logins with this secret ID may come from; within the role's secret_id_bound_cidrs."},
		"token_bound_cidrs": {Type: framework.TypeStringSlice,
			Description: "IP addresses or CIDR blocks the tokens of its logins may be used from; within the role's token_bound_cidrs."},
		"num_uses": {Type: framework.TypeInt,
			Description: "Logins the secret ID admits, overriding the role's secret_id_num_uses (never above it); 0 means unlimited."},
		"ttl": {Type: framework.TypeDurationSecond,
			Description: "How long the secret ID lives, overriding the role's secret_id_ttl (never above it)."},
	}
}

func (b *backend) secretIDPaths() []*framework.Path {
	name := framework.GenericNameRegex("role_name")
	custom := secretIDFields()
	custom["secret_id"] = &framework.FieldSchema{Type: framework.TypeString, Description: "The secret ID to register."}
	return []*framework.Path{
		{
			Pattern: "role/" + name + "/secret-id" + framework.OptionalTrailingSlash,
			Fields:  secretIDFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.generateSecretID,
				logical.ListOperation:   b.listSecretIDs,
			},
			Help: "Generate a secret ID for the role, or list the accessors of its secret IDs.",
		},
		{
			Pattern:    "role/" + name + "/custom-secret-id" + framework.OptionalTrailingSlash,
			Fields:     custom,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.customSecretID},
			Help:       "Register a secret ID of the caller's choosing for the role.",
		},
	}
}

func (b *backend) generateSecretID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.issueSecretID(ctx, d, uuid.NewString())
}

func (b *backend) customSecretID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	secretID := d.String("secret_id")
	switch {
	case secretID == "":
		return nil, logical.InvalidRequest("missing secret_id")
	case len(secretID) > maxInputLength:
		return nil, logical.InvalidRequest("secret_id is longer than maximum of %d bytes", maxInputLength)
	case strings.TrimSpace(secretID) != secretID:
		// Logins trim what they are sent, so this one could never be used.
		return nil, logical.InvalidRequest("secret_id must not begin or end with white space")
	}
	return b.issueSecretID(ctx, d, secretID)
}

// issueSecretID registers secretID for the route's role with the settings
// the request asks for within the role's limits, and returns it once with
// its accessor, as Vault does.
func (b *backend) issueSecretID(ctx context.Context, d *framework.FieldData, secretID string) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	// Held for reading until the secret ID is stored: a role deleted now
	// takes its secret IDs with it, and this one must be among them.
	b.roleMu.RLock()
	defer b.roleMu.RUnlock()
	role, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, logical.CodedError(logical.ErrNotFound, "role %q does not exist", name)
	}
	if !role.BindSecretID {
		return nil, logical.InvalidRequest("bind_secret_id is not set on the role")
	}
	e, err := b.secretSettings(role, d)
	if err != nil {
		return nil, err
	}
	if e, err = b.secrets.create(ctx, name, secretID, e); err != nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"secret_id":          secretID,
		"secret_id_accessor": e.Accessor,
		"secret_id_ttl":      ttlSeconds(e.TTL),
		"secret_id_num_uses": e.NumUses,
	}), nil
}

// secretSettings builds a new secret ID's entry from the request, within
// the role's limits: its blocks inside the role's, no more uses and no
// longer life than the role allows, and the life capped by the mount.
func (b *backend) secretSettings(role *roleEntry, d *framework.FieldData) (*secretEntry, error) {
	cidrs, err := parseCIDRs("cidr_list", d.Strings("cidr_list"))
	if err != nil {
		return nil, err
	}
	if !cidrSubset(cidrs, role.SecretIDBoundCIDRs) {
		return nil, logical.InvalidRequest("failed to verify subset relationship between CIDR blocks on the role %q and CIDR blocks on the secret ID %q",
			role.SecretIDBoundCIDRs, cidrs)
	}
	tokenCIDRs, err := parseCIDRs("token_bound_cidrs", d.Strings("token_bound_cidrs"))
	if err != nil {
		return nil, err
	}
	if !cidrSubset(tokenCIDRs, role.BoundCIDRs) {
		return nil, logical.InvalidRequest("failed to verify subset relationship between the token CIDR blocks on the role %q and on the secret ID %q",
			role.BoundCIDRs, tokenCIDRs)
	}
	uses := role.SecretIDNumUses
	if v, ok := d.GetOk("num_uses"); ok {
		switch uses = v.(int); {
		case uses < 0:
			return nil, logical.InvalidRequest("num_uses cannot be negative")
		case role.SecretIDNumUses > 0 && (uses == 0 || uses > role.SecretIDNumUses):
			return nil, logical.InvalidRequest("num_uses cannot be higher than the role's secret_id_num_uses")
		}
	}
	ttl := role.SecretIDTTL
	if v, ok := d.GetOk("ttl"); ok {
		if ttl = v.(time.Duration); role.SecretIDTTL > 0 && (ttl == 0 || ttl > role.SecretIDTTL) {
			return nil, logical.InvalidRequest("ttl cannot be longer than the role's secret_id_ttl")
		}
	}
	if ttl > b.maxTTL() {
		ttl = b.maxTTL()
	}
	meta, err := parseMetadata(d.Get("metadata"))
	if err != nil {
		return nil, err
	}
	return &secretEntry{NumUses: uses, TTL: ttl, Metadata: meta, CIDRList: cidrs, TokenBoundCIDRs: tokenCIDRs}, nil
}

// parseMetadata accepts secret ID metadata as Vault's clients send it: a
// JSON object, a string holding one, or "k1=v1,k2=v2". Values must be
// strings (numbers and booleans are written as text).
func parseMetadata(raw any) (map[string]string, error) {
	bad := func(why string) error { return logical.InvalidRequest("failed to parse metadata: %s", why) }
	switch v := raw.(type) {
	case nil:
		return map[string]string{}, nil
	case map[string]any:
		out := make(map[string]string, len(v))
		for k, x := range v {
			switch s := x.(type) {
			case string:
				out[k] = s
			case json.Number, bool, float64:
				out[k] = fmt.Sprint(s)
			default:
				return nil, bad(fmt.Sprintf("the value of %q is not a string", k))
			}
		}
		return out, nil
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return map[string]string{}, nil
		}
		if strings.HasPrefix(s, "{") {
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				return nil, bad("not a JSON object of strings")
			}
			return parseMetadata(obj)
		}
		out := map[string]string{}
		for _, pair := range strings.Split(s, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || k == "" {
				return nil, bad("expected a JSON object or k=v pairs separated by commas")
			}
			out[k] = val
		}
		return out, nil
	}
	return nil, bad("expected a JSON object or a string")
}

// listSecretIDs lists the accessors of the role's secret IDs; (nil, nil),
// a 404, when there are none.
func (b *backend) listSecretIDs(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	role, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, logical.CodedError(logical.ErrNotFound, "role %q does not exist", name)
	}
	keys, err := b.secrets.accessors(ctx, name)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}
