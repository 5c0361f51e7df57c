package dbtest

import (
	"os"
	"testing"
)

// TestThrowawayServers starts the servers the tests fall back on when no
// server is configured or running, and checks they can be used as the
// tests use them. Slow (initdb, mariadb-install-db): skipped with -short.
func TestThrowawayServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers from the installed binaries")
	}
	for name, start := range map[string]func() (*Server, error){"postgres": startPostgres, "mysql": startMySQL} {
		t.Run(name, func(t *testing.T) {
			s, err := start()
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("cannot start a throwaway %s: %v", name, err)
				}
				t.Skipf("cannot start a throwaway %s here: %v", name, err)
			}
			t.Cleanup(func() { s.Admin.Close() })
			user, pw := s.NewRoot(t)
			if err := s.LoginAs(user, pw); err != nil {
				t.Fatalf("login: %v", err)
			}
			if s.LoginAs(user, pw+"x") == nil {
				t.Fatal("a wrong password logged in")
			}
		})
	}
}
