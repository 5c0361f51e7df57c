package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Vault's rate-limit response headers (the names of sethvargo/go-limiter's
// httplimit, which Vault uses).
const (
	headerRateLimitLimit     = "X-Ratelimit-Limit"
	headerRateLimitRemaining = "X-Ratelimit-Remaining"
	headerRateLimitReset     = "X-Ratelimit-Reset"
)

// setRateLimitHeaders reports the bucket of the quota that decided the
// request, as Vault does when enable_rate_limit_response_headers is set:
// the bucket's size, what is left after this request, and the whole
// seconds until it is full again. It sets nothing when the core left s
// unset (no quota applied, the path is exempt, the headers are off, or a
// block_interval is keeping the client out).
func setRateLimitHeaders(h http.Header, s logical.RateLimitStatus) {
	if !s.Set {
		return
	}
	h.Set(headerRateLimitLimit, strconv.Itoa(s.Limit))
	h.Set(headerRateLimitRemaining, strconv.Itoa(s.Remaining))
	h.Set(headerRateLimitReset, strconv.FormatInt(ceilSeconds(s.Reset), 10))
}

// ceilSeconds rounds d up to whole seconds, so that a client waiting that
// long never comes back too early (Vault truncates).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
