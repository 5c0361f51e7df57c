package quota

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TypeRateLimit is the only quota type: Vault's lease-count quotas are an
// Enterprise feature that Coffer does not have.
const TypeRateLimit = "rate-limit"

// DefaultInterval is the interval a quota gets when it names none.
const DefaultInterval = time.Second

// Quota is one rate-limit rule: at most Rate requests per Interval from each
// client address to the paths the rule covers.
//
// Path selects what is covered: "" is every request (a global quota); a path
// ending in "/" is a mount and everything under it; a path ending in "*"
// covers the paths that start with what precedes the "*"; any other path
// covers exactly that request path. The most specific rule that covers a
// request decides it: an exact path, then the longest prefix, then global.
type Quota struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Path string `json:"path"`
	// Rate is how many requests a client may make per Interval, > 0; a
	// fractional rate spreads fewer than one request over an interval.
	Rate     float64       `json:"rate"`
	Interval time.Duration `json:"interval"`
	// BlockInterval, when non-zero, refuses every request from a client
	// for that long once it has gone over the rate.
	BlockInterval time.Duration `json:"block_interval"`
	// Inheritable is Vault's flag for applying a quota to child namespaces.
	// Coffer has only the root namespace, where Vault makes every quota
	// inheritable: Normalize sets it, and CheckInheritable refuses what
	// Vault refuses.
	Inheritable bool `json:"inheritable"`
}

// Config is the quota-wide configuration of sys/quotas/config.
type Config struct {
	// ExemptPaths is Vault's rate_limit_exempt_paths: request paths no
	// quota applies to, matched as Vault matches them (every entry is a
	// prefix, a trailing '*' is optional, the longest entry wins, a leading
	// '!' marks an exception). Nil means DefaultExemptPaths. Whatever it
	// holds, the paths AlwaysExempt reports are never limited.
	ExemptPaths []string `json:"rate_limit_exempt_paths"`
	// ResponseHeaders is Vault's enable_rate_limit_response_headers: when
	// set, every request a quota decides carries X-Ratelimit-Limit,
	// -Remaining and -Reset. Coffer sends Retry-After on every 429 whatever
	// its value.
	ResponseHeaders bool `json:"enable_rate_limit_response_headers"`
}

var nameRE = regexp.MustCompile(`^\w([\w.@-]*\w)?$`)

// maxNameLen bounds a name so that it stays a sensible storage key.
const maxNameLen = 128

// Normalize checks q and fills its defaults: an empty Type becomes
// TypeRateLimit and a zero Interval becomes DefaultInterval. It returns a
// logical.ErrInvalidRequest error that says what to fix.
func Normalize(q Quota) (Quota, error) {
	if q.Name == "" {
		return q, logical.InvalidRequest("missing quota name")
	}
	if len(q.Name) > maxNameLen || !nameRE.MatchString(q.Name) {
		return q, logical.InvalidRequest("invalid quota name %q: use letters, digits, '_', '.', '-' or '@', at most %d characters, no slashes", q.Name, maxNameLen)
	}
	if q.Type == "" {
		q.Type = TypeRateLimit
	}
	if q.Type != TypeRateLimit {
		return q, logical.InvalidRequest("unsupported quota type %q: only %q is supported", q.Type, TypeRateLimit)
	}
	if !(q.Rate > 0) || math.IsInf(q.Rate, 0) {
		return q, logical.InvalidRequest("'rate' must be a positive number of requests per interval")
	}
	if q.Interval == 0 {
		q.Interval = DefaultInterval
	}
	if q.Interval < 0 || q.BlockInterval < 0 {
		return q, logical.InvalidRequest("'interval' and 'block_interval' must not be negative")
	}
	p, err := cleanQuotaPath(q.Path)
	if err != nil {
		return q, err
	}
	q.Path = p
	q.Inheritable = true
	return q, nil
}

// CheckInheritable applies Vault's rules for the inheritable field of a
// quota on path ("" for a global quota) in the root namespace, the only one
// Coffer has: left out (requested nil), a quota is inheritable; true is
// refused on a quota with a path, which Vault allows only for namespace
// quotas; false is refused for every quota, as Vault refuses it for every
// quota of the root namespace.
func CheckInheritable(path string, requested *bool) error {
	switch {
	case requested == nil:
		return nil
	case *requested && path != "":
		return logical.InvalidRequest("only namespace quotas can be configured as inheritable")
	case !*requested:
		return logical.InvalidRequest("all global quotas must be inheritable")
	}
	return nil
}

// cleanQuotaPath normalises a quota path; "*" may only end it.
func cleanQuotaPath(p string) (string, error) {
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return "", logical.InvalidRequest("invalid path %q: '*' may only end a path", p)
	}
	clean, err := logical.CleanPath(p)
	if err != nil {
		return "", logical.InvalidRequest("invalid path %q: %v", p, err)
	}
	if clean == "*" {
		return "", logical.InvalidRequest("invalid path %q: use an empty path for a global quota", p)
	}
	return clean, nil
}

// NormalizeConfig cleans every exempt path, dropping empty ones; nil
// ExemptPaths become DefaultExemptPaths.
func NormalizeConfig(c Config) (Config, error) {
	if c.ExemptPaths == nil {
		c.ExemptPaths = DefaultExemptPaths
	}
	out := Config{ResponseHeaders: c.ResponseHeaders, ExemptPaths: []string{}}
	for _, p := range c.ExemptPaths {
		if strings.TrimSpace(p) == "" {
			continue
		}
		clean, err := cleanExemptPath(p)
		if err != nil {
			return Config{}, err
		}
		out.ExemptPaths = append(out.ExemptPaths, clean)
	}
	return out, nil
}

// ParseRate reads a rate as a JSON client sends it: a number, or a string
// holding one. It returns a logical.ErrInvalidRequest error for anything that
// is not a finite number greater than zero.
func ParseRate(raw any) (float64, error) {
	var f float64
	var err error
	switch v := raw.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case json.Number:
		f, err = strconv.ParseFloat(v.String(), 64)
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
	default:
		return 0, logical.InvalidRequest("'rate' must be a number")
	}
	if err != nil {
		return 0, logical.InvalidRequest("'rate' must be a number")
	}
	if !(f > 0) || math.IsInf(f, 0) {
		return 0, logical.InvalidRequest("'rate' must be a positive number of requests per interval")
	}
	return f, nil
}

// ClientHost returns the address part of a "host:port" remote address, the
// key Vault limits by; an address without a port is returned whole. It does
// not allocate.
func ClientHost(remoteAddr string) string {
	i := strings.LastIndexByte(remoteAddr, ':')
	if i < 0 {
		return remoteAddr
	}
	host := remoteAddr[:i]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1]
	}
	if strings.IndexByte(host, ':') >= 0 {
		// A bare IPv6 address with no port: the colon was part of it.
		return remoteAddr
	}
	return host
}
