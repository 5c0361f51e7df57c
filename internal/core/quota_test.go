package core

import (
	"testing"

	"github.com/cofferhq/coffer/internal/quota"
	"github.com/cofferhq/coffer/internal/system"
)

// TestPreAuthPathsAlwaysExempt keeps the quota package's list of paths no
// quota may ever limit in step with the sys/ paths served without a token:
// a new pre-auth path must not become one a bad quota can lock.
func TestPreAuthPathsAlwaysExempt(t *testing.T) {
	t.Parallel()
	for _, p := range append(append([]string{}, system.PreAuthPaths...), system.UnsealedPreAuthPaths...) {
		if !quota.AlwaysExempt("sys/" + p) {
			t.Errorf("sys/%s is served before authentication but a quota could limit it; add it to quota.alwaysExempt", p)
		}
	}
	for _, p := range []string{"sys/quotas/config", "sys/quotas/rate-limit/q", "sys/quotas/rate-limit/"} {
		if !quota.AlwaysExempt(p) {
			t.Errorf("%s can be rate-limited, so a bad quota could never be removed", p)
		}
	}
}
