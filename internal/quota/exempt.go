package quota

import (
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// DefaultExemptPaths is the rate_limit_exempt_paths that sys/quotas/config
// reports and applies until an operator writes the setting: Vault's default
// list, plus the quota endpoints and Coffer's other pre-auth sys/ paths.
// Callers must not modify it.
var DefaultExemptPaths = []string{
	"sys/generate-recovery-token/attempt",
	"sys/generate-recovery-token/update",
	"sys/generate-root/attempt",
	"sys/generate-root/update",
	"sys/health",
	"sys/init",
	"sys/leader",
	"sys/quotas/*",
	"sys/seal-status",
	"sys/unseal",
}

// alwaysExempt are never rate-limited, whatever rate_limit_exempt_paths
// says: a token allowed to write sys/quotas could otherwise set a global
// quota of one request a year, and then neither root nor anyone else could
// read or delete it. Unseal, seal status, health, rekey and root-token
// generation (every sys/ path the core serves without a token) stay
// reachable for the same reason. Entries match as exemptSet does.
var alwaysExempt = compileExempt([]string{
	"sys/quotas/*",
	"sys/generate-root/*",
	"sys/rekey/*",
	"sys/rekey-recovery-key/*",
	"sys/decode-token",
	"sys/init",
	"sys/unseal",
	"sys/seal-status",
	"sys/health",
	"sys/leader",
	"sys/storage/raft/join",
	"sys/storage/raft/bootstrap/*",
})

// AlwaysExempt reports whether path (a cleaned request path such as
// "sys/quotas/rate-limit/q") is one no quota ever limits, whatever the
// configuration.
func AlwaysExempt(path string) bool { return alwaysExempt.covers(path) }

// exemptEntry is one compiled rate_limit_exempt_paths entry.
type exemptEntry struct {
	prefix    string
	exception bool
}

// exemptSet matches paths as Vault's path manager matches the exempt list:
// every entry is a prefix of the paths it covers ("sys/mounts" covers
// "sys/mounts/x" too; a trailing '*' is accepted and means the same), the
// longest matching entry decides, and an entry written with a leading '!'
// is an exception that keeps the paths under it limited.
type exemptSet []exemptEntry

// compileExempt compiles entries already checked by NormalizeConfig.
func compileExempt(paths []string) exemptSet {
	out := make(exemptSet, 0, len(paths))
	for _, p := range paths {
		e := exemptEntry{}
		if rest, ok := strings.CutPrefix(p, "!"); ok {
			p, e.exception = rest, true
		}
		e.prefix = strings.TrimSuffix(p, "*")
		out = append(out, e)
	}
	return out
}

// covers reports whether path is exempt. It does not allocate.
func (s exemptSet) covers(path string) bool {
	best, found, exempt := -1, false, false
	for _, e := range s {
		if len(e.prefix) > best && strings.HasPrefix(path, e.prefix) {
			best, found, exempt = len(e.prefix), true, !e.exception
		}
	}
	return found && exempt
}

// cleanExemptPath normalises one rate_limit_exempt_paths entry: an optional
// leading '!', then a path that '*' may only end.
func cleanExemptPath(p string) (string, error) {
	bang := ""
	p = strings.TrimSpace(p)
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		bang, p = "!", strings.TrimSpace(rest)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return "", logical.InvalidRequest("invalid exempt path %q: '*' may only end a path", p)
	}
	// Cleaning can bare white space ("/ x" is " x"), and trimming a slash:
	// repeat until neither changes anything, so that the stored form
	// normalises to itself.
	clean := p
	for {
		next, err := logical.CleanPath(clean)
		if err != nil {
			return "", logical.InvalidRequest("invalid exempt path %q: %v", p, err)
		}
		if next = strings.TrimSpace(next); next == clean {
			break
		}
		clean = next
	}
	if clean == "" {
		return "", logical.InvalidRequest("invalid exempt path %q: name a request path, such as sys/mounts or secret/data/*", bang+p)
	}
	return bang + clean, nil
}
