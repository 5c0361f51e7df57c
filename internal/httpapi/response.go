package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// envelope is Vault's response body for logical responses.
type envelope = logical.Envelope

func (a *api) writeResponse(w http.ResponseWriter, r *http.Request, req *logical.Request, resp *logical.Response) {
	if resp != nil && resp.Raw != nil {
		status := resp.RawStatus
		if status == 0 {
			status = http.StatusOK
		}
		if rb, ok := resp.Raw.(logical.RawBody); ok {
			writeRaw(w, r, status, rb)
			return
		}
		if rs, ok := resp.Raw.(logical.RawStream); ok {
			a.writeStream(w, r, req, status, rs)
			return
		}
		writeJSON(w, r, status, resp.Raw)
		return
	}
	if resp == nil || (resp.Data == nil && resp.Auth == nil && resp.Secret == nil && resp.WrapInfo == nil && len(resp.Warnings) == 0 && resp.Status == 0) {
		switch req.Operation {
		case logical.ReadOperation, logical.ListOperation:
			writeErrors(w, http.StatusNotFound, []string{})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	if resp.Data == nil && resp.Auth == nil && resp.Secret == nil && resp.WrapInfo == nil && len(resp.Warnings) == 0 {
		// A bare status, such as the 202 of a queued revocation: Vault
		// sends no body.
		w.WriteHeader(resp.Status)
		return
	}
	env := logical.NewEnvelope(req.ID, resp)
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.DataAtTopLevel && len(resp.Data) > 0 {
		writeJSON(w, r, status, topLevel{env})
		return
	}
	writeEnvelope(w, r, status, &env)
}

// writeEnvelope writes env as writeJSON would, through appendEnvelope and
// a pooled buffer.
func writeEnvelope(w http.ResponseWriter, r *http.Request, status int, env *envelope) {
	bp := getBuf()
	defer putBuf(bp)
	body, err := appendEnvelope(*bp, env)
	if err != nil {
		// What encoding/json refuses (an unsupported value, a NaN) is
		// refused here too; writeJSON logs it the same way. A copy goes,
		// so that env itself can stay on the caller's stack.
		cp := *env
		writeJSON(w, r, status, &cp)
		return
	}
	*bp = body
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// jsonContentType and noStore are header values shared by every response:
// net/http only reads them, and Header.Set and Add replace or copy a
// slice whose capacity is its length.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func (a *api) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	status := statusFor(err)
	if status == http.StatusInternalServerError && r.Context().Err() != nil {
		// The client went away mid-request; nothing failed on our side.
		a.logger.Debug("request abandoned by the client", "request_id", requestID)
		writeErrors(w, http.StatusServiceUnavailable, []string{"request cancelled"})
		return
	}
	if status == http.StatusInternalServerError {
		// The message of an internal error may name storage keys or wrap
		// driver errors; keep it in the log and give the client a handle.
		a.logger.Error("request failed", "request_id", requestID, "error", err.Error())
		writeErrors(w, status, []string{"internal error; see the server log for request " + requestID})
		return
	}
	var rl *logical.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", retryAfter(rl.RetryAfter))
	}
	var ue *logical.UserError
	msg := err.Error()
	if errors.As(err, &ue) {
		msg = ue.Msg
	}
	if status == http.StatusNotFound && msg == "" {
		writeErrors(w, status, []string{})
		return
	}
	writeErrors(w, status, []string{msg})
}

// retryAfter renders a wait as Retry-After's whole seconds, rounded up and
// at least one, so a client that obeys it does not come back too early.
func retryAfter(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

func writeErrors(w http.ResponseWriter, status int, msgs []string) {
	writeJSON(w, nil, status, map[string][]string{"errors": msgs})
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "error", err.Error())
	}
}

// writeRaw writes a body that is not JSON, such as Prometheus text.
func writeRaw(w http.ResponseWriter, r *http.Request, status int, rb logical.RawBody) {
	w.Header().Set("Content-Type", rb.ContentType)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(rb.Body)
	}
}

// writeStream sends a streamed body. A failure after the status went out
// can only cut the body short; the stream's own checksum tells the client.
func (a *api) writeStream(w http.ResponseWriter, r *http.Request, req *logical.Request, status int, rs logical.RawStream) {
	w.Header().Set("Content-Type", rs.ContentType)
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := rs.Write(r.Context(), w); err != nil {
		a.logger.Error("streamed response cut short", "request_id", req.ID, "error", err.Error())
	}
}
