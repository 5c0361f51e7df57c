package audit

import (
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Input is what the core knows of one request when it asks the broker to
// record it, and later of its answer. The broker reads it and never
// changes it, nor anything it points to.
type Input struct {
	// Request is the client's request as it arrived (full path, data as
	// sent).
	Request *logical.Request
	// Operation is the operation the request was authorised for (an
	// update on something new is a create); empty means Request's.
	Operation logical.Operation
	// Auth describes the caller's token; nil for a request served
	// without one (a login) or refused before its token was checked.
	Auth *logical.Auth
	// TokenTTL and TokenIssueTime describe the caller's token.
	TokenTTL       time.Duration
	TokenIssueTime time.Time
	// MountPoint, MountType and MountAccessor name the mount the request
	// was routed to, when it was.
	MountPoint, MountType, MountAccessor string
	// Response and Err are the answer, for the response entry.
	Response *logical.Response
	Err      error
}

// The JSON shapes of Vault's audit entries: one "request" line and one
// "response" line per request.
type entry struct {
	Time     string         `json:"time"`
	Type     string         `json:"type"`
	Auth     *authEntry     `json:"auth,omitempty"`
	Request  *requestEntry  `json:"request,omitempty"`
	Response *responseEntry `json:"response,omitempty"`
	Error    string         `json:"error,omitempty"`
}

type authEntry struct {
	ClientToken      string            `json:"client_token,omitempty"`
	Accessor         string            `json:"accessor,omitempty"`
	DisplayName      string            `json:"display_name,omitempty"`
	Policies         []string          `json:"policies,omitempty"`
	TokenPolicies    []string          `json:"token_policies,omitempty"`
	IdentityPolicies []string          `json:"identity_policies,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	EntityID         string            `json:"entity_id,omitempty"`
	TokenType        string            `json:"token_type,omitempty"`
	TokenTTL         int64             `json:"token_ttl,omitempty"`
	TokenIssueTime   string            `json:"token_issue_time,omitempty"`
	NumUses          int               `json:"num_uses,omitempty"`
}

type namespaceEntry struct {
	ID string `json:"id"`
}

type requestEntry struct {
	ID                  string          `json:"id,omitempty"`
	Operation           string          `json:"operation"`
	MountPoint          string          `json:"mount_point,omitempty"`
	MountType           string          `json:"mount_type,omitempty"`
	MountAccessor       string          `json:"mount_accessor,omitempty"`
	ClientToken         string          `json:"client_token,omitempty"`
	ClientTokenAccessor string          `json:"client_token_accessor,omitempty"`
	Namespace           namespaceEntry  `json:"namespace"`
	Path                string          `json:"path"`
	Data                json.RawMessage `json:"data,omitempty"`
	RemoteAddress       string          `json:"remote_address,omitempty"`
	RemotePort          int             `json:"remote_port,omitempty"`
	WrapTTL             int64           `json:"wrap_ttl,omitempty"`
}

type secretEntry struct {
	LeaseID string `json:"lease_id"`
}

type wrapEntry struct {
	TTL             int64  `json:"ttl"`
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

type responseEntry struct {
	MountPoint    string          `json:"mount_point,omitempty"`
	MountType     string          `json:"mount_type,omitempty"`
	MountAccessor string          `json:"mount_accessor,omitempty"`
	Auth          *authEntry      `json:"auth,omitempty"`
	Secret        *secretEntry    `json:"secret,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	WrapInfo      *wrapEntry      `json:"wrap_info,omitempty"`
	Warnings      []string        `json:"warnings,omitempty"`
}

// formatter turns an Input into one device's JSON line.
type formatter struct {
	salt         *Salt
	prefix       string
	hmacAccessor bool
	logRaw       bool
	elideList    bool
	memo         *lineMemo
}

// hash HMACs s unless the device logs raw; the empty string stays empty.
// The last few tokens and accessors hashed for one line are remembered:
// a line names the caller's token and accessor twice.
func (f *formatter) hash(s string) string {
	if f.logRaw || s == "" {
		return s
	}
	if f.memo != nil {
		for i := range f.memo.n {
			if f.memo.in[i] == s {
				return f.memo.out[i]
			}
		}
	}
	h := f.salt.Hash(s)
	if m := f.memo; m != nil && m.n < len(m.in) {
		m.in[m.n], m.out[m.n] = s, h
		m.n++
	}
	return h
}

// lineMemo remembers the HMACs of a line's tokens and accessors.
type lineMemo struct {
	in, out [4]string
	n       int
}

// forLine returns a copy of f that remembers hashes for one line.
func (f *formatter) forLine() *formatter {
	c := *f
	c.memo = &lineMemo{}
	return &c
}

func (f *formatter) accessor(s string) string {
	if !f.hmacAccessor {
		return s
	}
	return f.hash(s)
}

func (f *formatter) data(m map[string]any) json.RawMessage {
	if f.logRaw {
		return hashedData(m, nil)
	}
	return hashedData(m, f.salt.Hash)
}

// request returns the request line for in.
func (f *formatter) request(in *Input, now time.Time) ([]byte, error) {
	f = f.forLine()
	e := entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "request", Auth: f.auth(in.Auth, in), Request: f.requestEntry(in)}
	if in.Err != nil {
		e.Error = in.Err.Error()
	}
	return f.encode(&e)
}

// response returns the response line for in.
func (f *formatter) response(in *Input, now time.Time) ([]byte, error) {
	f = f.forLine()
	e := entry{Time: now.UTC().Format(time.RFC3339Nano), Type: "response", Auth: f.auth(in.Auth, in), Request: f.requestEntry(in)}
	if in.Err != nil {
		e.Error = in.Err.Error()
	}
	r := &responseEntry{MountPoint: in.MountPoint, MountType: in.MountType, MountAccessor: in.MountAccessor}
	if resp := in.Response; resp != nil {
		r.Warnings = resp.Warnings
		if resp.Auth != nil {
			r.Auth = f.auth(resp.Auth, nil)
		}
		if resp.Secret != nil {
			r.Secret = &secretEntry{LeaseID: resp.Secret.LeaseID}
		}
		if resp.WrapInfo != nil {
			w := resp.WrapInfo
			r.WrapInfo = &wrapEntry{
				TTL: int64(w.TTL.Seconds()), Token: f.hash(w.Token), Accessor: f.accessor(w.Accessor),
				CreationTime: w.CreationTime.UTC().Format(time.RFC3339Nano), CreationPath: w.CreationPath,
				WrappedAccessor: f.accessor(w.WrappedAccessor),
			}
		}
		r.Data = f.data(f.elide(in, resp.Data))
	}
	e.Response = r
	return f.encode(&e)
}

// elide replaces the keys of a list response by their number, when the
// device asks for it.
func (f *formatter) elide(in *Input, data map[string]any) map[string]any {
	if !f.elideList || f.operation(in) != logical.ListOperation || data == nil {
		return data
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = v
		if k != "keys" && k != "key_info" {
			continue
		}
		switch x := v.(type) {
		case []string:
			out[k] = len(x)
		case []any:
			out[k] = len(x)
		case map[string]any:
			out[k] = len(x)
		}
	}
	return out
}

func (f *formatter) operation(in *Input) logical.Operation {
	if in.Operation != "" {
		return in.Operation
	}
	return in.Request.Operation
}

func (f *formatter) requestEntry(in *Input) *requestEntry {
	req := in.Request
	r := &requestEntry{
		ID: req.ID, Operation: string(f.operation(in)), MountPoint: in.MountPoint, MountType: in.MountType,
		MountAccessor: in.MountAccessor, ClientToken: f.hash(req.ClientToken), Namespace: namespaceEntry{ID: "root"},
		Path: req.Path, Data: f.data(req.Data), WrapTTL: int64(req.WrapTTL.Seconds()),
	}
	if in.Auth != nil {
		r.ClientTokenAccessor = f.accessor(in.Auth.Accessor)
	}
	if host, port, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		r.RemoteAddress = host
		r.RemotePort, _ = strconv.Atoi(port)
	} else {
		r.RemoteAddress = req.RemoteAddr
	}
	return r
}

// auth describes a token; in, when not nil, adds the caller's TTL and
// issue time.
func (f *formatter) auth(a *logical.Auth, in *Input) *authEntry {
	if a == nil {
		return nil
	}
	e := &authEntry{
		ClientToken: f.hash(a.ClientToken), Accessor: f.accessor(a.Accessor), DisplayName: a.DisplayName,
		Policies: a.Policies, TokenPolicies: a.TokenPolicies, IdentityPolicies: a.IdentityPolicies,
		Metadata: a.Metadata, EntityID: a.EntityID, TokenType: a.TokenType, NumUses: a.NumUses,
		TokenTTL: int64(a.LeaseDuration.Seconds()),
	}
	if in != nil {
		e.TokenTTL = int64(in.TokenTTL.Seconds())
		if !in.TokenIssueTime.IsZero() {
			e.TokenIssueTime = in.TokenIssueTime.UTC().Format(time.RFC3339)
		}
	}
	return e
}

func (f *formatter) encode(e *entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if f.prefix == "" {
		return b, nil
	}
	return append([]byte(f.prefix), b...), nil
}
