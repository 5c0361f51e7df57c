package httpapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Handler is what the HTTP layer needs from the core: one call per request.
// A Handler that is also a Gate is asked before any body is read.
type Handler interface {
	HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error)
}

// Options tune the HTTP layer.
type Options struct {
	// MaxRequestSize caps request bodies in bytes; 0 means 32 MiB, a
	// negative value means no cap of its own (the body budget still
	// applies).
	MaxRequestSize int64
	// MaxUnauthenticatedRequestSize caps the bodies of requests served
	// without a token: logins and the pre-auth sys/ paths, and, when the
	// Handler is not a Gate, every request that carries no token. 0 means
	// DefaultMaxUnauthenticatedRequestSize; it never exceeds MaxRequestSize.
	MaxUnauthenticatedRequestSize int64
	// Bodies bounds the memory request bodies take at once. Listeners of
	// one server share one; nil gives this handler a budget of its own,
	// sized for MaxRequestSize.
	Bodies *BodyBudget
	Logger *slog.Logger
	// DisabledPaths are logical paths, such as "sys/rekey/init", that this
	// listener answers with 405 whatever the method or token: the
	// token-less rekey and root generation endpoints a listener's
	// disable_unauthed_* options remove.
	DisabledPaths []string
	// Forwarder, when set, carries the requests a standby receives to the
	// active node (standby.go); without it a standby answers them 503.
	Forwarder Forwarder
}

// DefaultMaxRequestSize is the body cap when Options leaves it at zero.
const DefaultMaxRequestSize = 32 << 20

type api struct {
	core      Handler
	max       int64
	maxUnauth int64
	bodies    *BodyBudget
	logger    *slog.Logger
	disabled  []string
	forwarder Forwarder
}

// New returns the http.Handler for the whole API. Safe for concurrent use.
func New(core Handler, opts Options) http.Handler {
	a := &api{core: core, max: opts.MaxRequestSize, maxUnauth: opts.MaxUnauthenticatedRequestSize,
		bodies: opts.Bodies, logger: opts.Logger, disabled: slices.Clone(opts.DisabledPaths), forwarder: opts.Forwarder}
	if a.max == 0 {
		a.max = DefaultMaxRequestSize
	}
	if a.maxUnauth <= 0 {
		a.maxUnauth = DefaultMaxUnauthenticatedRequestSize
	}
	if a.bodies == nil {
		a.bodies = NewBodyBudget(a.max, nil)
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = noStore
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeErrors(w, http.StatusNotFound, []string{})
		return
	}
	if a.isDisabled(r) {
		writeErrors(w, http.StatusMethodNotAllowed, []string{"this endpoint is disabled on this listener"})
		return
	}
	if a.forwardIfStandby(w, r) {
		return
	}
	req, release, err := a.decode(w, r)
	if err != nil {
		a.writeError(w, r, "", err)
		return
	}
	// The body's share of the budget is held until the answer is written:
	// the decoded data lives that long.
	defer release()
	resp, err := a.core.HandleRequest(r.Context(), req)
	setRateLimitHeaders(w.Header(), req.RateLimit)
	if err != nil {
		a.writeError(w, r, req.ID, err)
		return
	}
	a.writeResponse(w, r, req, resp)
}

// isDisabled reports whether r names one of the listener's disabled paths,
// spelt however the client likes; it is checked before the body is read.
func (a *api) isDisabled(r *http.Request) bool {
	if len(a.disabled) == 0 {
		return false
	}
	path, err := logical.CleanPath(strings.TrimPrefix(r.URL.Path, "/v1/"))
	return err == nil && slices.Contains(a.disabled, strings.TrimSuffix(path, "/"))
}

// decode builds the logical request from the HTTP one. The returned
// release gives back the body budget the request holds; it is never nil.
func (a *api) decode(w http.ResponseWriter, r *http.Request) (*logical.Request, func(), error) {
	nop := func() {}
	path, err := logical.CleanPath(strings.TrimPrefix(r.URL.Path, "/v1/"))
	if err != nil {
		return nil, nop, err
	}
	op, err := operation(r)
	if err != nil {
		return nil, nop, err
	}
	if err := unsupportedHeaders(r); err != nil {
		return nil, nop, err
	}
	if op == logical.ListOperation && path != "" && !strings.HasSuffix(path, "/") {
		// As Vault's HTTP layer does: a LIST names a folder, so routing and
		// policy both see "secret/metadata/", however the client spelt it.
		path += "/"
	}
	wrapTTL, err := requestWrapTTL(r)
	if err != nil {
		return nil, nop, err
	}
	tok := token(r) // before the token's headers go
	req := &logical.Request{
		WrapTTL:     wrapTTL,
		ID:          requestID(),
		Operation:   op,
		Path:        path,
		ClientToken: tok,
		RemoteAddr:  r.RemoteAddr,
		Headers:     headersWithoutToken(r),
	}
	switch op {
	case logical.ReadOperation, logical.ListOperation, logical.DeleteOperation:
		req.Data = queryData(r)
		return req, nop, nil
	}
	if op == logical.PatchOperation {
		if err := checkPatchType(r); err != nil {
			return nil, nop, err
		}
	}
	if op == logical.UpdateOperation && slices.Contains(streamedBodyPaths, strings.TrimSuffix(path, "/")) {
		// Read by the handler, after authorisation, as a stream: a
		// snapshot is larger than any body the budget holds, and may take
		// longer to arrive than the listener's read timeout allows.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(streamedBodyTimeout))
		req.Body = r.Body
		return req, nop, nil
	}
	data, release, err := a.body(w, r, req)
	if err != nil {
		return nil, nop, err
	}
	req.Data = data
	return req, release, nil
}

// streamedBodyPaths take their body as a stream (logical.Request.Body)
// rather than as JSON: snapshot uploads, as Vault's clients send them.
var streamedBodyPaths = []string{"sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force"}

// streamedBodyTimeout replaces the listener's read timeout for those bodies.
const streamedBodyTimeout = time.Hour

func operation(r *http.Request) (logical.Operation, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.URL.RawQuery == "" {
			return logical.ReadOperation, nil
		}
		list, err := queryBool(r.URL.Query(), "list")
		if err != nil {
			return "", err
		}
		if list {
			return logical.ListOperation, nil
		}
		return logical.ReadOperation, nil
	case "LIST":
		return logical.ListOperation, nil
	case http.MethodPost, http.MethodPut:
		return logical.UpdateOperation, nil
	case http.MethodPatch:
		return logical.PatchOperation, nil
	case http.MethodDelete:
		return logical.DeleteOperation, nil
	}
	return "", fmt.Errorf("%w: %s", errBadMethod, r.Method)
}

// unsupportedHeaders refuses requests that ask for Vault features Coffer
// does not have, rather than silently answering something else.
func unsupportedHeaders(r *http.Request) error {
	if ns := strings.Trim(header(r.Header, "X-Vault-Namespace"), "/"); ns != "" && ns != "root" {
		return logical.InvalidRequest("namespaces are not supported: drop the X-Vault-Namespace header (got %q)", ns)
	}
	return nil
}

// requestWrapTTL reads X-Vault-Wrap-TTL as Vault does: whole seconds or a
// duration such as "5m"; absent or zero means no wrapping. The JWT format
// of X-Vault-Wrap-Format is Vault's internal affair and is refused rather
// than ignored.
func requestWrapTTL(r *http.Request) (time.Duration, error) {
	// Spelt in canonical form, which Header.Get would otherwise build (and
	// allocate) for every request.
	v := strings.TrimSpace(header(r.Header, "X-Vault-Wrap-Ttl"))
	if v == "" {
		return 0, nil
	}
	if f := r.Header.Get("X-Vault-Wrap-Format"); strings.EqualFold(f, "jwt") {
		return 0, logical.InvalidRequest("JWT wrapping tokens are not supported; send the request without X-Vault-Wrap-Format")
	}
	var ttl time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > maxWrapSeconds || n < -maxWrapSeconds {
			return 0, logical.InvalidRequest("X-Vault-Wrap-TTL %q is out of range", v)
		}
		ttl = time.Duration(n) * time.Second
	} else if ttl, err = time.ParseDuration(v); err != nil {
		return 0, logical.InvalidRequest("X-Vault-Wrap-TTL must be a number of seconds or a duration such as \"5m\", got %.40q", v)
	}
	if ttl < 0 {
		return 0, logical.InvalidRequest("requested wrap ttl cannot be negative")
	}
	return ttl, nil
}

// requestID returns a random (version 4) UUID in its usual text form, as
// uuid.NewString does, with one allocation instead of three. The bits
// come from the runtime's per-thread ChaCha8 generator (math/rand/v2),
// seeded from the system's entropy: a request ID must be unique, not
// secret, and crypto/rand cost a getrandom call per request.
func requestID() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], mrand.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// maxWrapSeconds keeps a wrap TTL in seconds within time.Duration.
const maxWrapSeconds = int64(math.MaxInt64 / int64(time.Second))

// token reads the client token from X-Vault-Token or a Bearer header.
func token(r *http.Request) string {
	if t := header(r.Header, "X-Vault-Token"); t != "" {
		return t
	}
	if h := header(r.Header, "Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// headersWithoutToken returns the request's headers once the ones that
// carry the token are gone: the core hands a mount the headers it was
// tuned to pass through, and none may ever be a credential.
func headersWithoutToken(r *http.Request) http.Header {
	// The names are canonical, which Header.Del would check again.
	delete(r.Header, "X-Vault-Token")
	delete(r.Header, "Authorization")
	return r.Header
}

// header is Header.Get for a name already in canonical form (net/http
// stores every name it reads so), without checking that form per request.
func header(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func queryData(r *http.Request) map[string]any {
	if r.URL.RawQuery == "" {
		return nil
	}
	q := r.URL.Query()
	if len(q) == 0 {
		return nil
	}
	data := make(map[string]any, len(q))
	for k, v := range q {
		if k == "list" || len(v) == 0 {
			continue
		}
		data[k] = v[0]
	}
	return data
}

func checkPatchType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/merge-patch+json" {
		return fmt.Errorf("%w: PATCH requires Content-Type application/merge-patch+json", errContentType)
	}
	return nil
}

// queryBool reads the boolean query parameter name as Vault does, with
// strconv.ParseBool: 1, t, T, TRUE, true and True are true; 0, f, F,
// FALSE, false and False are false; absent or empty is false. Anything
// else is a 400 naming the parameter.
func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, logical.InvalidRequest("query parameter %q must be a boolean (true or false), got %.40q", name, v)
	}
	return b, nil
}
