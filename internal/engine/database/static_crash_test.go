package database

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// crashAfterDatabaseChange rotates role app of h with the storage write
// that records the result failing: the database has the new password,
// storage only has it as pending. It returns the password from before.
func crashAfterDatabaseChange(t *testing.T, h *harness, fs *faultyStorage) (old string) {
	t.Helper()
	old = h.stored("app").Password
	fs.setFail(func(_ string, r *staticRole) bool { return r.PendingPassword == "" && r.Password != old })
	_, err := h.do(logical.UpdateOperation, "rotate-role/app", nil)
	fs.setFail(nil)
	if err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
		t.Fatalf("rotate-role with the result's write failing: %v", err)
	}
	r := h.stored("app")
	if r.Password != old || r.PendingPassword == "" {
		t.Fatalf("stored after the fault: %+v", redacted(r))
	}
	if err := h.srv.LoginAs(r.Username, r.PendingPassword); err != nil {
		t.Fatalf("the database did not get the new password: %v", err)
	}
	if h.srv.LoginAs(r.Username, old) == nil {
		t.Fatal("the old password still works after the database changed")
	}
	// The process dies here.
	h.fw.Cleanup(context.Background())
	return old
}

// TestStaticRotationCrashRecovery: a crash between changing the password
// in the database and storing it never leaves Coffer without the working
// password: after a restart the unfinished rotation is settled, by the
// first read of static-creds or by the scheduler, and the password
// answered is the one that logs in.
func TestStaticRotationCrashRecovery(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		for _, recover := range []string{"read", "scheduler"} {
			t.Run(recover, func(t *testing.T) {
				fs := &faultyStorage{Storage: logical.NewInmemStorage()}
				h := newHarnessOn(t, srv, fs, nil)
				user, _ := h.staticUser(nil)
				h.staticRole("app", user, nil)
				old := crashAfterDatabaseChange(t, h, fs)
				pending := h.stored("app")

				h2 := newHarnessOn(t, srv, fs, nil)
				var got string
				if recover == "read" {
					got = str(h2.staticCreds("app"), "password")
				} else {
					h2.startScheduler()
					got = h2.waitRecord("app", "the scheduler to settle the rotation", func(r *staticRole) bool { return r.PendingPassword == "" }).Password
				}
				if got != pending.PendingPassword || got == old {
					t.Fatal("the settled password is not the one the database got")
				}
				if err := srv.LoginAs(user, got); err != nil {
					t.Fatalf("the settled password does not log in: %v", err)
				}
				if r := h2.stored("app"); r.PendingPassword != "" || r.Password != got || !r.LastVaultRotation.After(pending.LastVaultRotation) {
					t.Fatalf("stored after settling: %+v", redacted(r))
				}
			})
		}
	})
}

// TestStaticRotationSettle: each way an unfinished rotation can have
// ended is settled to a password that logs in: the database never got
// the new password (crash before the change); someone changed the
// password behind Coffer's back (neither logs in: the new one is set
// again); the database is down (a 502, and the record is kept).
func TestStaticRotationSettle(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		const next = "Next-Pending-Password-1"
		for name, tc := range map[string]struct {
			outOfBand string // a password set behind Coffer's back
			down      bool
			want      func(old string) string
		}{
			"before the change": {want: func(old string) string { return old }},
			"changed behind":    {outOfBand: "Someone-Elses-Password-9", want: func(string) string { return next }},
			"database down":     {down: true},
		} {
			t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
				h := newHarness(t, srv)
				proxy := srv.NewProxy(t)
				user, _ := srv.NewUser(t)
				h.configure("db", srv.Via(proxy), nil)
				h.staticRole("app", user, nil)
				r := h.stored("app")
				old := r.Password
				r.PendingPassword = next
				if err := h.b.saveStaticRole(context.Background(), "app", r); err != nil {
					t.Fatal(err)
				}
				if tc.outOfBand != "" {
					srv.SetPassword(t, user, tc.outOfBand)
				}
				if tc.down {
					proxy.Down()
					_, err := h.do(logical.ReadOperation, "static-creds/app", nil)
					wantKind(t, err, logical.ErrUpstream, `database "db" is unavailable`)
					for _, pw := range []string{old, next} {
						if strings.Contains(err.Error(), pw) {
							t.Fatal("a password is in the error")
						}
					}
					if got := h.stored("app"); got.PendingPassword != next || got.Password != old {
						t.Fatal("a failed settle changed the record")
					}
					return
				}
				got := str(h.staticCreds("app"), "password")
				if got != tc.want(old) {
					t.Fatalf("settled to the wrong password (old %v, next %v)", got == old, got == next)
				}
				if err := srv.LoginAs(user, got); err != nil {
					t.Fatalf("the settled password does not log in: %v", err)
				}
				if h.stored("app").PendingPassword != "" {
					t.Fatal("the pending password was kept")
				}
			})
		}
	})
}

// TestStaticRoleCreationFails: when the database does not take the new
// password at creation, nothing is stored and the user keeps its password.
func TestStaticRoleCreationFails(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, pw := h.staticUser(nil)
		_, err := h.do(logical.CreateOperation, "static-roles/app", map[string]any{
			"db_name": "db", "username": user, "rotation_period": "1h", "rotation_statements": "ALTER NONSENSE {{name}}",
		})
		wantKind(t, err, logical.ErrUpstream, `database "db" failed setting the password of static role "app"`)
		if r, _ := h.b.loadStaticRole(context.Background(), "app"); r != nil {
			t.Fatal("a failed creation left the role")
		}
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("a failed creation changed the password: %v", err)
		}
	})
}
