package approle

import (
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// BenchmarkLogin is the backend's own cost of a login (role ID index,
// role, secret ID: three reads and three HMACs) over in-memory storage,
// without the core or a token: an unlimited secret ID, and one whose use
// count is rewritten by every login.
func BenchmarkLogin(b *testing.B) {
	for name, data := range map[string]map[string]any{"unlimited": nil, "num-uses": {"num_uses": 1 << 30}} {
		b.Run(name, func(b *testing.B) {
			h := newHarness(b)
			roleID := h.role(b, "web", nil)
			secretID, _ := h.secretID(b, "web", data)
			body := map[string]any{"role_id": roleID, "secret_id": secretID}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.doFrom(logical.UpdateOperation, "login", body, "127.0.0.1:1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
