package system

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Audit manages the audit devices. EnableAudit and DisableAudit return
// audit.ErrInvalidConfig and audit.ErrAPIDisabled errors for what they
// refuse; AuditHash and AuditChainKey return audit.ErrNotFound for a path
// with no device.
type Audit interface {
	ListAudit(ctx context.Context) ([]audit.Config, error)
	EnableAudit(ctx context.Context, conf audit.Config) error
	DisableAudit(ctx context.Context, path string) error
	// AuditHash returns input as the device at path writes it.
	AuditHash(ctx context.Context, path, input string) (string, error)
	// AuditChainKey returns the key of the device's hash chain, which
	// verifies (and could forge) its log.
	AuditChainKey(ctx context.Context, path string) ([]byte, error)
}

// AuditHeaders manages the request headers every audit device records
// (request.headers of each line). Names are lower-cased; SetAuditedHeader
// and DeleteAuditedHeader return audit.ErrInvalidConfig for a name that
// is not a header's, or for the token headers.
type AuditHeaders interface {
	// AuditedHeaders maps each audited header to whether it is HMAC'd.
	AuditedHeaders(ctx context.Context) (map[string]bool, error)
	SetAuditedHeader(ctx context.Context, name string, hmac bool) error
	DeleteAuditedHeader(ctx context.Context, name string) error
}

// auditSudoPaths need sudo, as in Vault; the chain key too, since it can
// forge the chain it verifies.
var auditSudoPaths = []string{"audit", "audit/*", "audit-chain-key/*", "config/auditing/*"}

func (b *backend) auditPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "audit" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.listAudit, logical.ListOperation: b.listAudit},
		},
		{
			Pattern: "audit/" + framework.MatchAllRegex("path"),
			Fields: map[string]*framework.FieldSchema{
				"path": {Type: framework.TypeString}, "type": {Type: framework.TypeString},
				"description": {Type: framework.TypeString}, "options": {Type: framework.TypeKVPairs},
				"local": {Type: framework.TypeBool},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.enableAudit, logical.CreateOperation: b.enableAudit,
				logical.DeleteOperation: b.disableAudit,
			},
		},
		{
			Pattern: "audit-hash/" + framework.MatchAllRegex("path"),
			Fields:  map[string]*framework.FieldSchema{"path": {Type: framework.TypeString}, "input": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.auditHash, logical.CreateOperation: b.auditHash,
			},
		},
		{
			Pattern:    "config/auditing/request-headers",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.listAuditedHeaders},
		},
		{
			Pattern: "config/auditing/request-headers/" + framework.MatchAllRegex("header"),
			Fields: map[string]*framework.FieldSchema{
				"header": {Type: framework.TypeString},
				"hmac":   {Type: framework.TypeBool, Description: "Whether the header's values are HMAC'd in the log."},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.readAuditedHeader, logical.UpdateOperation: b.setAuditedHeader,
				logical.CreateOperation: b.setAuditedHeader, logical.DeleteOperation: b.deleteAuditedHeader,
			},
		},
		{
			Pattern:    "audit-chain-key/" + framework.MatchAllRegex("path"),
			Fields:     map[string]*framework.FieldSchema{"path": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.auditChainKey},
		},
	}
}

// auditError turns the audit package's refusals into user errors.
func auditError(err error) error {
	switch {
	case errors.Is(err, audit.ErrInvalidConfig), errors.Is(err, audit.ErrAPIDisabled), errors.Is(err, audit.ErrNotFound):
		return logical.InvalidRequest("%s", err.Error())
	}
	return err
}

func (b *backend) listAudit(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	devs, err := b.core.ListAudit(ctx)
	if err != nil {
		return nil, err
	}
	data := make(map[string]any, len(devs))
	for _, d := range devs {
		data[d.Path] = map[string]any{
			"type": d.Type, "description": d.Description, "options": optionsJSON(d.Options),
			"local": d.Local, "path": d.Path,
		}
	}
	return logical.DataResponse(data), nil
}

func (b *backend) enableAudit(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	path := strings.Trim(d.String("path"), "/")
	if path == "" {
		return nil, logical.InvalidRequest("missing audit device path")
	}
	typ := d.String("type")
	if typ == "" {
		return nil, logical.InvalidRequest("missing audit device type: file, socket or syslog")
	}
	err := b.core.EnableAudit(ctx, audit.Config{
		Path: path, Type: typ, Description: d.String("description"), Options: d.KVPairs("options"), Local: d.Bool("local"),
	})
	return nil, auditError(err)
}

func (b *backend) disableAudit(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, auditError(b.core.DisableAudit(ctx, d.String("path")))
}

func (b *backend) auditHash(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	h, err := b.core.AuditHash(ctx, d.String("path"), d.String("input"))
	if err != nil {
		return nil, auditError(err)
	}
	return logical.DataResponse(map[string]any{"hash": h}), nil
}

func (b *backend) auditChainKey(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, err := b.core.AuditChainKey(ctx, d.String("path"))
	if err != nil {
		return nil, auditError(err)
	}
	return logical.DataResponse(map[string]any{"key": hex.EncodeToString(k), "algorithm": "hmac-sha256"}), nil
}

// headerSettings is how Vault reports one audited header.
func headerSettings(hmac bool) map[string]any { return map[string]any{"hmac": hmac} }

func (b *backend) listAuditedHeaders(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	h, err := b.core.AuditedHeaders(ctx)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]any, len(h))
	for name, hmac := range h {
		headers[name] = headerSettings(hmac)
	}
	return logical.DataResponse(map[string]any{"headers": headers}), nil
}

// readAuditedHeader answers as Vault does: the header under the name asked
// for, and a 400 for one that is not audited.
func (b *backend) readAuditedHeader(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("header")
	h, err := b.core.AuditedHeaders(ctx)
	if err != nil {
		return nil, err
	}
	hmac, ok := h[strings.ToLower(name)]
	if !ok {
		return nil, logical.InvalidRequest("could not find header in config: %q is not audited", name)
	}
	return logical.DataResponse(map[string]any{name: headerSettings(hmac)}), nil
}

func (b *backend) setAuditedHeader(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, auditError(b.core.SetAuditedHeader(ctx, d.String("header"), d.Bool("hmac")))
}

func (b *backend) deleteAuditedHeader(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, auditError(b.core.DeleteAuditedHeader(ctx, d.String("header")))
}
