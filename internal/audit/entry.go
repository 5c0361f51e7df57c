package audit

import (
	"crypto/sha256"
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
	// NonHMACRequestKeys and NonHMACResponseKeys are the mount's
	// audit_non_hmac_request_keys and …_response_keys: the data keys
	// whose strings are written in the clear.
	NonHMACRequestKeys, NonHMACResponseKeys []string
	// Response and Err are the answer, for the response entry.
	Response *logical.Response
	Err      error
}

// formatter turns an Input into one device's JSON lines, shaped as Vault
// writes its audit entries: one "request" line and one "response" line
// per request. It appends the JSON by hand, field by field in the order
// and with the omissions encoding/json gives the entry types of
// entry_test.go, into a buffer the caller reuses: a line costs no
// reflection and next to no allocation.
type formatter struct {
	salt         *Salt
	prefix       string
	hmacAccessor bool
	logRaw       bool
	elideList    bool
}

// lineEnc writes one line. It remembers the last few tokens and accessors
// it hashed: a line names the caller's token and accessor twice.
type lineEnc struct {
	f       *formatter
	in      *Input
	headers *HeaderConfig
	buf     []byte
	memo    struct {
		in  [4]string
		out [4][sha256.Size]byte
		n   int
	}
}

// appendRequest appends the request line for in to buf.
func (f *formatter) appendRequest(buf []byte, in *Input, hdr *HeaderConfig, now time.Time) []byte {
	e := lineEnc{f: f, in: in, headers: hdr, buf: buf}
	e.start("request", now)
	e.close()
	return e.buf
}

// appendResponse appends the response line for in to buf.
func (f *formatter) appendResponse(buf []byte, in *Input, hdr *HeaderConfig, now time.Time) []byte {
	e := lineEnc{f: f, in: in, headers: hdr, buf: buf}
	e.start("response", now)
	e.response()
	e.close()
	return e.buf
}

// start writes the prefix, time, type, auth and request of a line.
func (e *lineEnc) start(typ string, now time.Time) {
	e.buf = append(e.buf, e.f.prefix...)
	e.buf = append(e.buf, `{"time":"`...)
	e.buf = now.UTC().AppendFormat(e.buf, time.RFC3339Nano)
	e.buf = append(e.buf, `","type":"`...)
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, '"')
	if e.in.Auth != nil {
		e.buf = append(e.buf, `,"auth":`...)
		e.auth(e.in.Auth, true)
	}
	e.buf = append(e.buf, `,"request":`...)
	e.request()
}

// close writes the error and ends the line.
func (e *lineEnc) close() {
	if e.in.Err != nil {
		if msg := e.in.Err.Error(); msg != "" {
			e.buf = appendJSONString(append(e.buf, `,"error":`...), msg)
		}
	}
	e.buf = append(e.buf, '}')
}

// field writes ,"name":"value" (or {"name":"value" first).
func (e *lineEnc) field(first bool, name, value string) {
	if !first {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `":`...)
	e.buf = appendJSONString(e.buf, value)
}

// optField writes a string field unless it is empty.
func (e *lineEnc) optField(name, value string) {
	if value != "" {
		e.field(false, name, value)
	}
}

func (e *lineEnc) intField(name string, n int64) {
	e.buf = append(e.buf, `,"`...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `":`...)
	e.buf = strconv.AppendInt(e.buf, n, 10)
}

func (e *lineEnc) listField(name string, l []string) {
	if len(l) == 0 {
		return
	}
	e.buf = append(e.buf, `,"`...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `":[`...)
	for i, s := range l {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, s)
	}
	e.buf = append(e.buf, ']')
}

// hashedField writes a token or an accessor field, HMAC'd unless the
// device logs raw (or hash is false), omitted when empty unless always.
func (e *lineEnc) hashedField(name, value string, hash, always bool) {
	if value == "" && !always {
		return
	}
	e.buf = append(e.buf, `,"`...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `":`...)
	if !hash || e.f.logRaw || value == "" {
		e.buf = appendJSONString(e.buf, value)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = appendSum(e.buf, e.sum(value))
	e.buf = append(e.buf, '"')
}

// sum returns the HMAC of s, remembered for the rest of the line.
func (e *lineEnc) sum(s string) *[sha256.Size]byte {
	m := &e.memo
	for i := range m.n {
		if m.in[i] == s {
			return &m.out[i]
		}
	}
	i := m.n
	if i == len(m.in) {
		i = len(m.in) - 1
	} else {
		m.n++
	}
	m.in[i] = s
	e.f.salt.sumString(s, &m.out[i])
	return &m.out[i]
}

// auth describes a token; caller adds the caller's TTL and issue time
// from the Input.
func (e *lineEnc) auth(a *logical.Auth, caller bool) {
	n := len(e.buf)
	e.buf = append(e.buf, '{')
	e.hashedField("client_token", a.ClientToken, true, false)
	e.hashedField("accessor", a.Accessor, e.f.hmacAccessor, false)
	e.optField("display_name", a.DisplayName)
	e.listField("policies", a.Policies)
	e.listField("token_policies", a.TokenPolicies)
	e.listField("identity_policies", a.IdentityPolicies)
	if len(a.Metadata) > 0 {
		e.buf = append(e.buf, `,"metadata":{`...)
		for i, k := range sortedKeys(a.Metadata) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(appendJSONString(e.buf, k), ':')
			e.buf = appendJSONString(e.buf, a.Metadata[k])
		}
		e.buf = append(e.buf, '}')
	}
	e.optField("entity_id", a.EntityID)
	e.optField("token_type", a.TokenType)
	ttl := int64(a.LeaseDuration.Seconds())
	if caller {
		ttl = int64(e.in.TokenTTL.Seconds())
	}
	if ttl != 0 {
		e.intField("token_ttl", ttl)
	}
	if caller && !e.in.TokenIssueTime.IsZero() {
		e.optField("token_issue_time", e.in.TokenIssueTime.UTC().Format(time.RFC3339))
	}
	if a.NumUses != 0 {
		e.intField("num_uses", int64(a.NumUses))
	}
	e.fixFirst(n)
	e.buf = append(e.buf, '}')
}

// fixFirst drops the comma the first field of the object opened at n
// was written with.
func (e *lineEnc) fixFirst(n int) {
	if len(e.buf) > n+1 && e.buf[n+1] == ',' {
		e.buf = append(e.buf[:n+1], e.buf[n+2:]...)
	}
}

func (e *lineEnc) operation() logical.Operation {
	if e.in.Operation != "" {
		return e.in.Operation
	}
	return e.in.Request.Operation
}

// mount writes the mount fields a request and a response share.
func (e *lineEnc) mount() {
	e.optField("mount_point", e.in.MountPoint)
	e.optField("mount_type", e.in.MountType)
	e.optField("mount_accessor", e.in.MountAccessor)
}

func (e *lineEnc) request() {
	req := e.in.Request
	n := len(e.buf)
	e.buf = append(e.buf, '{')
	e.optField("id", req.ID)
	e.field(false, "operation", string(e.operation()))
	e.mount()
	e.hashedField("client_token", req.ClientToken, true, false)
	if e.in.Auth != nil {
		e.hashedField("client_token_accessor", e.in.Auth.Accessor, e.f.hmacAccessor, false)
	}
	e.buf = append(e.buf, `,"namespace":{"id":"root"}`...)
	e.field(false, "path", req.Path)
	if len(req.Data) > 0 {
		e.buf = append(e.buf, `,"data":`...)
		e.buf = e.f.values(e.in.NonHMACRequestKeys).appendData(e.buf, req.Data)
	}
	if host, port, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		e.optField("remote_address", host)
		if p, _ := strconv.Atoi(port); p != 0 {
			e.intField("remote_port", int64(p))
		}
	} else {
		e.optField("remote_address", req.RemoteAddr)
	}
	if ttl := int64(req.WrapTTL.Seconds()); ttl != 0 {
		e.intField("wrap_ttl", ttl)
	}
	e.requestHeaders()
	e.fixFirst(n)
	e.buf = append(e.buf, '}')
}

// values is the encoder of a line's data, clear naming the keys whose
// strings are not hashed.
func (f *formatter) values(clear []string) valueEnc {
	if f.logRaw {
		return valueEnc{}
	}
	return valueEnc{salt: f.salt, clear: clear}
}

func (e *lineEnc) response() {
	e.buf = append(e.buf, `,"response":`...)
	n := len(e.buf)
	e.buf = append(e.buf, '{')
	e.mount()
	if resp := e.in.Response; resp != nil {
		if resp.Auth != nil {
			e.buf = append(e.buf, `,"auth":`...)
			e.auth(resp.Auth, false)
		}
		if resp.Secret != nil {
			e.buf = append(e.buf, `,"secret":{"lease_id":`...)
			e.buf = append(appendJSONString(e.buf, resp.Secret.LeaseID), '}')
		}
		if data := e.elide(resp.Data); len(data) > 0 {
			e.buf = append(e.buf, `,"data":`...)
			e.buf = e.f.values(e.in.NonHMACResponseKeys).appendData(e.buf, data)
		}
		if w := resp.WrapInfo; w != nil {
			e.buf = append(e.buf, `,"wrap_info":{"ttl":`...)
			e.buf = strconv.AppendInt(e.buf, int64(w.TTL.Seconds()), 10)
			e.hashedField("token", w.Token, true, true)
			e.hashedField("accessor", w.Accessor, e.f.hmacAccessor, true)
			e.field(false, "creation_time", w.CreationTime.UTC().Format(time.RFC3339Nano))
			e.field(false, "creation_path", w.CreationPath)
			e.hashedField("wrapped_accessor", w.WrappedAccessor, e.f.hmacAccessor, false)
			e.buf = append(e.buf, '}')
		}
		e.listField("warnings", resp.Warnings)
	}
	e.fixFirst(n)
	e.buf = append(e.buf, '}')
}

// elide replaces the keys of a list response by their number, when the
// device asks for it.
func (e *lineEnc) elide(data map[string]any) map[string]any {
	if !e.f.elideList || e.operation() != logical.ListOperation || data == nil {
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

// requestHeaders writes the request headers the server audits
// (sys/config/auditing/request-headers), HMAC'd where configured so.
func (e *lineEnc) requestHeaders() {
	h := e.headers
	if h == nil || len(h.names) == 0 || len(e.in.Request.Headers) == 0 {
		return
	}
	first := true
	for _, name := range h.names {
		vals := e.in.Request.Headers.Values(name)
		if len(vals) == 0 {
			continue
		}
		if first {
			e.buf = append(e.buf, `,"headers":{`...)
			first = false
		} else {
			e.buf = append(e.buf, ',')
		}
		e.buf = append(appendJSONString(e.buf, name), ':')
		plain := !h.hmac[name] || e.f.logRaw
		e.buf = valueEnc{salt: e.f.salt}.append(e.buf, vals, plain)
	}
	if !first {
		e.buf = append(e.buf, '}')
	}
}
