package cli

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

// TestDatabaseScripts runs the CLI scripts in testdata/database against
// real PostgreSQL and MariaDB servers (see dbtest): $PG_URL and $MY_URL are
// templated connection URLs, $PG_ROOT/$PG_ROOT_PW and $MY_ROOT/$MY_ROOT_PW
// a root user each script may rotate, $PG_ROOT_URL and $MY_ROOT_URL that
// root's own URL, $PG_STATIC/$MY_STATIC an ordinary user for a static role
// and $PG_STATIC_URL/$MY_STATIC_URL its URL with its first password.
func TestDatabaseScripts(t *testing.T) {
	pg, my := dbtest.Postgres(t), dbtest.MySQL(t)
	// Users a failed script may leave behind.
	pg.CleanupUsers(t, "v-root-pgapp-")
	my.CleanupUsers(t, "v-root-myapp-")
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "database"),
		Setup: func(e *testscript.Env) error {
			if err := scriptSetup(e); err != nil {
				return err
			}
			for prefix, s := range map[string]*dbtest.Server{"PG": pg, "MY": my} {
				user, pw := s.NewRoot(t)
				e.Setenv(prefix+"_URL", s.TemplateURL())
				e.Setenv(prefix+"_ROOT", user)
				e.Setenv(prefix+"_ROOT_PW", pw)
				e.Setenv(prefix+"_ROOT_URL", s.URL(user, pw))
				e.Setenv(prefix+"_DB", s.Database)
				static, staticPW := s.NewUser(t)
				e.Setenv(prefix+"_STATIC", static)
				e.Setenv(prefix+"_STATIC_URL", s.URL(static, staticPW))
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver": waitServer,
			"setenvfrom": setenvFrom,
			"envsubst":   envsubst,
			"dblogin": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: dblogin postgres|mysql URL")
				}
				err := server(args[0], pg, my).Login(args[1])
				if err != nil && !neg {
					ts.Fatalf("login with %s: %v", args[1], err)
				}
				if err == nil && neg {
					ts.Fatalf("login with %s worked", args[1])
				}
			},
			// dbuser checks that a user exists; negated, it waits up to 20
			// seconds for the user to be gone (expiry runs in the background).
			"dbuser": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: dbuser postgres|mysql NAME")
				}
				s := server(args[0], pg, my)
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					exists := s.UserExists(t, args[1])
					if exists != neg {
						return
					}
					if !neg || time.Now().After(deadline) {
						ts.Fatalf("user %s exists: %v", args[1], exists)
					}
				}
			},
		},
	})
}

func server(kind string, pg, my *dbtest.Server) *dbtest.Server {
	if kind == "mysql" {
		return my
	}
	return pg
}
