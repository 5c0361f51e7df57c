package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
)

// Handler is what the HTTP layer needs from the core: one call per request.
type Handler interface {
	HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error)
}

// Options tune the HTTP layer.
type Options struct {
	// MaxRequestSize caps request bodies in bytes; 0 means 32 MiB, a
	// negative value means no limit.
	MaxRequestSize int64
	Logger         *slog.Logger
	// DisabledPaths are logical paths, such as "sys/rekey/init", that this
	// listener answers with 405 whatever the method or token: the
	// token-less rekey and root generation endpoints a listener's
	// disable_unauthed_* options remove.
	DisabledPaths []string
}

// DefaultMaxRequestSize is the body cap when Options leaves it at zero.
const DefaultMaxRequestSize = 32 << 20

type api struct {
	core     Handler
	max      int64
	logger   *slog.Logger
	disabled []string
}

// New returns the http.Handler for the whole API. Safe for concurrent use.
func New(core Handler, opts Options) http.Handler {
	a := &api{core: core, max: opts.MaxRequestSize, logger: opts.Logger, disabled: slices.Clone(opts.DisabledPaths)}
	if a.max == 0 {
		a.max = DefaultMaxRequestSize
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeErrors(w, http.StatusNotFound, []string{})
		return
	}
	if a.isDisabled(r) {
		writeErrors(w, http.StatusMethodNotAllowed, []string{"this endpoint is disabled on this listener"})
		return
	}
	req, err := a.decode(w, r)
	if err != nil {
		a.writeError(w, r, "", err)
		return
	}
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

// decode builds the logical request from the HTTP one.
func (a *api) decode(w http.ResponseWriter, r *http.Request) (*logical.Request, error) {
	path, err := logical.CleanPath(strings.TrimPrefix(r.URL.Path, "/v1/"))
	if err != nil {
		return nil, err
	}
	op, err := operation(r)
	if err != nil {
		return nil, err
	}
	if err := unsupportedHeaders(r); err != nil {
		return nil, err
	}
	if op == logical.ListOperation && path != "" && !strings.HasSuffix(path, "/") {
		// As Vault's HTTP layer does: a LIST names a folder, so routing and
		// policy both see "secret/metadata/", however the client spelt it.
		path += "/"
	}
	tok := token(r) // before the token's headers go
	req := &logical.Request{
		ID:          uuid.NewString(),
		Operation:   op,
		Path:        path,
		ClientToken: tok,
		RemoteAddr:  r.RemoteAddr,
		Headers:     headersWithoutToken(r),
	}
	switch op {
	case logical.ReadOperation, logical.ListOperation, logical.DeleteOperation:
		req.Data = queryData(r)
	default:
		if op == logical.PatchOperation {
			if err := checkPatchType(r); err != nil {
				return nil, err
			}
		}
		if req.Data, err = a.body(w, r); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func operation(r *http.Request) (logical.Operation, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if v := r.URL.Query().Get("list"); v == "true" || v == "1" {
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
	if r.Header.Get("X-Vault-Wrap-TTL") != "" {
		return logical.InvalidRequest("response wrapping (X-Vault-Wrap-TTL) is not supported; send the request without it")
	}
	if ns := strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"); ns != "" && ns != "root" {
		return logical.InvalidRequest("namespaces are not supported: drop the X-Vault-Namespace header (got %q)", ns)
	}
	return nil
}

// token reads the client token from X-Vault-Token or a Bearer header.
func token(r *http.Request) string {
	if t := r.Header.Get("X-Vault-Token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// headersWithoutToken returns the request's headers once the ones that
// carry the token are gone: the core hands a mount the headers it was
// tuned to pass through, and none may ever be a credential.
func headersWithoutToken(r *http.Request) http.Header {
	r.Header.Del("X-Vault-Token")
	r.Header.Del("Authorization")
	return r.Header
}

func queryData(r *http.Request) map[string]any {
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

// body decodes a JSON object body; an empty body yields nil data.
func (a *api) body(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	rd := io.Reader(r.Body)
	if a.max > 0 {
		rd = http.MaxBytesReader(w, r.Body, a.max)
	}
	raw, err := io.ReadAll(rd)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: the limit is %d bytes", errBodyTooBig, a.max)
		}
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: unexpected data after the JSON object", errBadJSON)
	}
	if data == nil {
		data = map[string]any{}
	}
	return data, nil
}
