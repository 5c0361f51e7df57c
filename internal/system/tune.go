package system

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// tuneField is one setting of a mount, as sys/mounts/<path>/tune and
// sys/auth/<path>/tune read and write it and as the config object of
// sys/mounts and sys/auth reports it. Adding a tunable setting is one row
// of tuneFields (plus its field in MountInfo); the routes, the enable
// config and the reads follow from the table.
type tuneField struct {
	name string
	// authOnly fields exist on auth methods only.
	authOnly bool
	// onSys fields may be tuned on the sys/ mount, which is otherwise
	// untunable, as in Vault.
	onSys bool
	// tuneOnly fields are not read from the config object of an enable
	// (description and options are top-level fields there).
	tuneOnly bool
	// set parses a value as a request gave it (JSON-decoded, never nil)
	// and applies it to m. It must replace, never modify, m's slices and
	// maps: m shares them with the live entry. A user mistake is a
	// logical.ErrInvalidRequest error naming the field.
	set func(m *MountInfo, raw any) error
	// report adds the setting to a read of the mount's config, when it
	// has a value worth showing; nil for settings reported elsewhere.
	report func(m MountInfo, out map[string]any)
}

// tuneFields are every tunable setting, in the order they are applied.
var tuneFields = []tuneField{
	{name: "description", tuneOnly: true, set: func(m *MountInfo, raw any) error {
		s, err := stringField("description", raw)
		m.Description = s
		return err
	}},
	{name: "default_lease_ttl", set: ttlSetter("default_lease_ttl", func(m *MountInfo) *time.Duration { return &m.DefaultLeaseTTL })},
	{name: "max_lease_ttl", set: ttlSetter("max_lease_ttl", func(m *MountInfo) *time.Duration { return &m.MaxLeaseTTL })},
	// Sent by every Vault client's tune; Coffer has no response cache to bypass.
	{name: "force_no_cache", set: func(*MountInfo, any) error { return nil }},
	{name: "listing_visibility", set: func(m *MountInfo, raw any) error {
		s, err := stringField("listing_visibility", raw)
		if err != nil {
			return err
		}
		if !slices.Contains([]string{"", ListingHidden, ListingUnauth}, s) {
			return logical.InvalidRequest("invalid listing_visibility %s: use %q, %q or an empty string", s, ListingUnauth, ListingHidden)
		}
		m.ListingVisibility = s
		return nil
	}, report: func(m MountInfo, out map[string]any) {
		if m.ListingVisibility != "" {
			out["listing_visibility"] = m.ListingVisibility
		}
	}},
	{name: "audit_non_hmac_request_keys", onSys: true,
		set:    listSetter("audit_non_hmac_request_keys", plainList, func(m *MountInfo) *[]string { return &m.AuditNonHMACRequestKeys }),
		report: listReporter("audit_non_hmac_request_keys", func(m MountInfo) []string { return m.AuditNonHMACRequestKeys })},
	{name: "audit_non_hmac_response_keys", onSys: true,
		set:    listSetter("audit_non_hmac_response_keys", plainList, func(m *MountInfo) *[]string { return &m.AuditNonHMACResponseKeys }),
		report: listReporter("audit_non_hmac_response_keys", func(m MountInfo) []string { return m.AuditNonHMACResponseKeys })},
	{name: "passthrough_request_headers",
		set:    listSetter("passthrough_request_headers", passthroughList, func(m *MountInfo) *[]string { return &m.PassthroughRequestHeaders }),
		report: listReporter("passthrough_request_headers", func(m MountInfo) []string { return m.PassthroughRequestHeaders })},
	{name: "allowed_response_headers",
		set:    listSetter("allowed_response_headers", headerList, func(m *MountInfo) *[]string { return &m.AllowedResponseHeaders }),
		report: listReporter("allowed_response_headers", func(m MountInfo) []string { return m.AllowedResponseHeaders })},
	{name: "options", tuneOnly: true, set: setOptions},
	{name: "user_lockout_config", authOnly: true, set: setUserLockout, report: reportUserLockout},
}

// Listing visibilities of a mount (listing_visibility): an "unauth" mount
// is listed by sys/internal/ui/mounts without a token; "hidden" is a hint
// for user interfaces; empty is the default.
const (
	ListingUnauth = "unauth"
	ListingHidden = "hidden"
)

// tokenHeaders carry the caller's token; no mount may have them passed on.
var tokenHeaders = []string{"X-Vault-Token", "Authorization"}

func stringField(name string, raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case fmt.Stringer: // json.Number
		return v.String(), nil
	}
	return "", logical.InvalidRequest("field %q: expected a string", name)
}

// ttlSetter parses a TTL the way Vault's tune does: an empty string leaves
// it alone, "system" (or 0) means the server's default, anything else is
// seconds or a duration string.
func ttlSetter(name string, field func(*MountInfo) *time.Duration) func(*MountInfo, any) error {
	return func(m *MountInfo, raw any) error {
		if s, ok := raw.(string); ok {
			switch strings.TrimSpace(s) {
			case "":
				return nil
			case "system":
				*field(m) = 0
				return nil
			}
		}
		d, err := framework.ParseDuration(raw)
		if err != nil {
			return logical.InvalidRequest("field %q: %v", name, err)
		}
		*field(m) = d
		return nil
	}
}

// stringList reads a JSON list of strings or one comma-separated string,
// trimming each element and dropping empty ones.
func stringList(name string, raw any) ([]string, error) {
	var parts []string
	switch v := raw.(type) {
	case string:
		parts = strings.Split(v, ",")
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, logical.InvalidRequest("field %q: expected a list of strings", name)
			}
			parts = append(parts, s)
		}
	case []string:
		parts = v
	default:
		return nil, logical.InvalidRequest("field %q: expected a list of strings", name)
	}
	out := []string{}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// Kinds of list settings.
const (
	plainList = iota
	headerList
	passthroughList // headers, and never the ones carrying the caller's token
)

// listSetter replaces a list setting; header names are canonicalised.
func listSetter(name string, kind int, field func(*MountInfo) *[]string) func(*MountInfo, any) error {
	return func(m *MountInfo, raw any) error {
		list, err := stringList(name, raw)
		if err != nil {
			return err
		}
		for i, h := range list {
			if kind == plainList {
				break
			}
			list[i] = http.CanonicalHeaderKey(h)
			if kind == passthroughList && slices.Contains(tokenHeaders, list[i]) {
				return logical.InvalidRequest("field %q: %s carries the caller's token and is never passed on", name, list[i])
			}
		}
		*field(m) = list
		return nil
	}
}

func listReporter(name string, field func(MountInfo) []string) func(MountInfo, map[string]any) {
	return func(m MountInfo, out map[string]any) {
		if l := field(m); len(l) > 0 {
			out[name] = l
		}
	}
}

// setOptions merges options into the mount's, as Vault's tune does: an
// empty value removes an option, except "version", which the core checks.
func setOptions(m *MountInfo, raw any) error {
	obj, ok := raw.(map[string]any)
	if !ok {
		return logical.InvalidRequest("field \"options\": expected an object of strings")
	}
	next := maps.Clone(m.Options)
	if next == nil {
		next = map[string]string{}
	}
	for k, v := range obj {
		s, err := stringField("options."+k, v)
		if err != nil {
			return err
		}
		if s == "" && k != "version" {
			delete(next, k)
			continue
		}
		next[k] = s
	}
	m.Options = next
	return nil
}

// tuneSchema declares every tune field raw: the rows parse them, so that
// the enable config and the tune route read values the same way.
func tuneSchema() map[string]*framework.FieldSchema {
	s := map[string]*framework.FieldSchema{"path": {Type: framework.TypeString}}
	for _, f := range tuneFields {
		s[f.name] = &framework.FieldSchema{Type: framework.TypeRaw}
	}
	return s
}

// tuneEdits turns the fields a request set into edits of table t's mount
// at path, refusing fields the mount does not have.
func tuneEdits(t Table, path string, set func(name string) (any, bool), fromConfig bool) (Tune, error) {
	onSys := t == SecretsTable && strings.Trim(path, "/") == "sys"
	var tn Tune
	for _, f := range tuneFields {
		raw, ok := set(f.name)
		if !ok || raw == nil || (fromConfig && f.tuneOnly) {
			continue
		}
		if f.authOnly && t != AuthTable {
			return Tune{}, logical.InvalidRequest("'%s' can only be set on auth methods", f.name)
		}
		if onSys && !f.onSys {
			return Tune{}, logical.InvalidRequest("cannot tune parameter %s of sys/", f.name)
		}
		tn.Edits = append(tn.Edits, func(m *MountInfo) error { return f.set(m, raw) })
	}
	return tn, nil
}

// configJSON renders a mount's config object as Vault's sys/mounts and
// tune reads do.
func configJSON(m MountInfo) map[string]any {
	out := map[string]any{
		"default_lease_ttl": seconds(m.DefaultLeaseTTL), "max_lease_ttl": seconds(m.MaxLeaseTTL),
		"force_no_cache": false,
	}
	for _, f := range tuneFields {
		if f.report != nil {
			f.report(m, out)
		}
	}
	return out
}

func (b *backend) tunePath(t Table) *framework.Path {
	return &framework.Path{
		Pattern: string(t) + "/" + framework.MatchAllRegex("path") + "/tune",
		Fields:  tuneSchema(),
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readTune(t),
			logical.UpdateOperation: b.tune(t),
		},
		Help: "Read or change a mount's TTLs, description, listing visibility, audit keys, passed-through headers and options.",
	}
}

// tuneTarget is the table and path a tune names: as in Vault,
// sys/mounts/auth/<path>/tune reaches the auth method at auth/<path>.
func tuneTarget(t Table, path string) (Table, string) {
	if rest, ok := strings.CutPrefix(path, "auth/"); ok && t == SecretsTable {
		return AuthTable, rest
	}
	return t, path
}

func (b *backend) readTune(t Table) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		t, path := tuneTarget(t, d.String("path"))
		m, ok := b.find(t, path)
		if !ok {
			return nil, logical.InvalidRequest("cannot fetch mount entry for path %q", path)
		}
		data := configJSON(m)
		data["description"] = m.Description
		flattenUserLockout(m, data)
		if len(m.Options) > 0 {
			data["options"] = m.Options
		}
		return logical.DataResponse(data), nil
	}
}

func (b *backend) tune(t Table) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		t, path := tuneTarget(t, d.String("path"))
		tn, err := tuneEdits(t, path, d.GetOk, false)
		if err != nil {
			return nil, err
		}
		warnings, err := b.core.Tune(ctx, t, path, tn)
		if err != nil || len(warnings) == 0 {
			return nil, err
		}
		return &logical.Response{Warnings: warnings}, nil
	}
}
