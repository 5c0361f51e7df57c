package logical

import (
	"fmt"
	"time"
)

// RateLimitedError is a request refused by a rate-limit quota. It wraps
// ErrRateLimited, so it maps to 429, and carries how long the client should
// wait, which the HTTP layer sends as Retry-After.
type RateLimitedError struct {
	// Path is the request path, named in the message as Vault does.
	Path string
	// RetryAfter is how long until the client may try again; zero when
	// unknown.
	RetryAfter time.Duration
	// Reason, when set, is the whole message instead of the quota's (a
	// limiter of failed logins says what tripped it).
	Reason string
}

func (e *RateLimitedError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("request path %q: %v", e.Path, ErrRateLimited)
}

// Unwrap lets errors.Is find ErrRateLimited.
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// RateLimitStatus is what the quota that decided a request reports to the
// client in Vault's X-Ratelimit-* response headers, when sys/quotas/config
// sets enable_rate_limit_response_headers.
type RateLimitStatus struct {
	// Set is true when the core filled the status; the headers are sent
	// only then.
	Set bool
	// Limit is how many requests the client's bucket holds when full;
	// Remaining how many it holds after this request.
	Limit, Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// Applied is true once the core has applied the quotas to this request
	// (the HTTP layer's admission check does, before reading a body), so
	// that they are not applied, and the request not counted, twice.
	Applied bool
}
