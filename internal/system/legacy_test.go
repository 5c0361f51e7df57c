package system

import "testing"

func TestAtTopLevel(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"policy": true, "policy/": true, "policy/admin": true, "mounts": true, "mounts/secret/tune": true,
		"auth": true, "auth/userpass/tune": true, "remount": true, "key-status": true, "capabilities-self": true,
		"policies/acl": false, "policies/acl/admin": false, "remount/status/x": false, "policyx": false,
		"internal/ui/mounts": false, "quotas/config": false,
	}
	for path, want := range cases {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			if got := atTopLevel(path); got != want {
				t.Fatalf("atTopLevel(%q) = %v, want %v", path, got, want)
			}
		})
	}
}
