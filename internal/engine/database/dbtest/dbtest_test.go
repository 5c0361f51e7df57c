package dbtest

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestServersCheckPasswords: each server found logs in a user with its
// password and refuses a wrong one, and UserExists sees the user come and
// go.
func TestServersCheckPasswords(t *testing.T) {
	for name, get := range map[string]func(testing.TB) *Server{"postgres": Postgres, "mysql": MySQL} {
		t.Run(name, func(t *testing.T) {
			s := get(t)
			t.Logf("using %s", s)
			user, pw := s.NewRoot(t)
			if err := s.LoginAs(user, pw); err != nil {
				t.Fatalf("login with the right password: %v", err)
			}
			if s.LoginAs(user, pw+"x") == nil {
				t.Fatal("a wrong password logged in")
			}
			if !s.UserExists(t, user) {
				t.Fatal("UserExists does not see the new user")
			}
		})
	}
}
