package database

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// startScheduler starts h's scheduler (Factory does this for a mount).
func (h *harness) startScheduler() {
	h.fw.StartBackground(context.Background())
}

// TestStaticRotationOnSchedule: with the clock moved past a role's next
// rotation (a rotation_period, or a cron slot), the scheduler rotates it
// without anyone asking; the new password logs in, the old one no longer
// does, and the next rotation is one period (or the next slot) later.
func TestStaticRotationOnSchedule(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		for name, extra := range map[string]map[string]any{
			"period":   nil,
			"schedule": {"rotation_period": nil, "rotation_schedule": "30 * * * *"},
		} {
			t.Run(name, func(t *testing.T) {
				clock := newFakeClock()
				h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
				h.startScheduler()
				user, _ := h.staticUser(nil)
				h.staticRole("app", user, extra)
				first := h.stored("app")
				clock.Add(first.NextVaultRotation.Sub(clock.Now()) + time.Second)
				h.b.sched.kick()
				r := h.waitRecord("app", "the scheduled rotation", func(r *staticRole) bool { return r.Password != first.Password })
				if srv.LoginAs(user, first.Password) == nil {
					t.Fatal("the password from before the scheduled rotation still works")
				}
				if err := srv.LoginAs(user, r.Password); err != nil {
					t.Fatalf("the rotated password does not log in: %v", err)
				}
				if !r.LastVaultRotation.Equal(clock.Now()) || !r.NextVaultRotation.Equal(r.nextAfter(r.LastVaultRotation)) ||
					!r.NextVaultRotation.After(clock.Now()) || r.PendingPassword != "" {
					t.Fatalf("after the scheduled rotation: %+v (now %v)", redacted(r), clock.Now())
				}
			})
		}
	})
}

// TestStaticRotationRetriedWhileDown: a scheduled rotation that finds the
// database down keeps the old password (it still logs in and static-creds
// still answers it), and is retried until the database is back.
func TestStaticRotationRetriedWhileDown(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		clock := newFakeClock()
		h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
		h.startScheduler()
		proxy := srv.NewProxy(t)
		user, _ := srv.NewUser(t)
		h.configure("db", srv.Via(proxy), nil)
		h.staticRole("app", user, nil)
		first := h.stored("app")
		proxy.Down()
		clock.Add(time.Hour + time.Second)
		h.b.sched.kick()
		h.waitLog("could not rotate the password of a static role")
		if r := h.stored("app"); r.Password != first.Password || r.PendingPassword != "" || !r.NextVaultRotation.Equal(first.NextVaultRotation) {
			t.Fatalf("a failed rotation changed the record: %+v", redacted(r))
		}
		if err := srv.LoginAs(user, first.Password); err != nil {
			t.Fatalf("the old password stopped working while the database was unreachable: %v", err)
		}
		if creds := h.staticCreds("app"); str(creds, "password") != first.Password || creds.Data["ttl"] != int64(0) {
			t.Fatalf("static-creds while the rotation fails: ttl %v", creds.Data["ttl"])
		}
		proxy.Up(t)
		clock.Add(time.Minute) // past any backoff
		h.b.sched.kick()
		r := h.waitRecord("app", "the retried rotation", func(r *staticRole) bool { return r.Password != first.Password })
		if err := srv.LoginAs(user, r.Password); err != nil {
			t.Fatalf("the retried rotation's password: %v", err)
		}
		if srv.LoginAs(user, first.Password) == nil {
			t.Fatal("the old password still works after the retried rotation")
		}
	})
}

// TestStaticRotationWindow: a scheduled rotation that keeps failing until
// its rotation_window is over is given up for that slot, as in Vault: the
// next rotation is the schedule's next slot, and the password stays.
func TestStaticRotationWindow(t *testing.T) {
	srv := dbtest.Postgres(t)
	clock := newFakeClock()
	h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
	h.startScheduler()
	proxy := srv.NewProxy(t)
	user, _ := srv.NewUser(t)
	h.configure("db", srv.Via(proxy), nil)
	h.staticRole("app", user, map[string]any{"rotation_period": nil, "rotation_schedule": "0 */6 * * *", "rotation_window": "1h"})
	first := h.stored("app")
	proxy.Down()
	clock.Add(first.NextVaultRotation.Sub(clock.Now()) + 30*time.Minute)
	h.b.sched.kick()
	h.waitLog("could not rotate the password of a static role")
	clock.Add(31 * time.Minute)
	h.b.sched.kick()
	r := h.waitRecord("app", "the slot to be given up", func(r *staticRole) bool { return r.NextVaultRotation.After(first.NextVaultRotation) })
	if r.Password != first.Password || !r.NextVaultRotation.Equal(first.NextVaultRotation.Add(6*time.Hour)) {
		t.Fatalf("after the window: %+v", redacted(r))
	}
	proxy.Up(t)
	clock.Add(r.NextVaultRotation.Sub(clock.Now()) + time.Second)
	h.b.sched.kick()
	r = h.waitRecord("app", "the next slot's rotation", func(r *staticRole) bool { return r.Password != first.Password })
	if err := srv.LoginAs(user, r.Password); err != nil {
		t.Fatal(err)
	}
}

// TestStaticRotationAfterRestart: a new backend over the storage of one
// that stopped (a restart) keeps each role's password and schedule, and a
// rotation that came due while it was down runs soon after it starts.
func TestStaticRotationAfterRestart(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		clock := newFakeClock()
		storage := logical.NewInmemStorage()
		h := newHarnessOn(t, srv, storage, clock)
		h.startScheduler()
		user, _ := h.staticUser(nil)
		later, _ := srv.NewUser(t)
		h.staticRole("due", user, nil)
		h.staticRole("later", later, map[string]any{"rotation_period": "10h"})
		due, notDue := h.stored("due"), h.stored("later")
		h.fw.Cleanup(context.Background())

		clock.Add(2 * time.Hour)
		h2 := newHarnessOn(t, srv, storage, clock)
		if creds := h2.staticCreds("later"); str(creds, "password") != notDue.Password || creds.Data["ttl"] != int64(8*3600) {
			t.Fatalf("after the restart: ttl %v, password kept %v", creds.Data["ttl"], str(creds, "password") == notDue.Password)
		}
		h2.startScheduler()
		r := h2.waitRecord("due", "the rotation missed while down", func(r *staticRole) bool { return r.Password != due.Password })
		if err := srv.LoginAs(user, r.Password); err != nil {
			t.Fatal(err)
		}
		if got := h2.stored("later"); got.Password != notDue.Password || !got.NextVaultRotation.Equal(notDue.NextVaultRotation) {
			t.Fatal("a role not yet due was rotated or rescheduled by the restart")
		}
	})
}

// TestStaticSchedulerStartStop: the scheduler runs only between start and
// stop (the hooks the HA layer will call); started again it picks up what
// came due meanwhile. Deleting a role takes it off the schedule.
func TestStaticSchedulerStartStop(t *testing.T) {
	srv := dbtest.Postgres(t)
	clock := newFakeClock()
	h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
	h.startScheduler()
	h.startScheduler() // idempotent
	user, _ := h.staticUser(nil)
	h.staticRole("app", user, nil)
	first := h.stored("app")
	h.fw.StopBackground()
	h.fw.StopBackground()
	clock.Add(2 * time.Hour)
	h.b.sched.kick()
	h.b.sched.mu.Lock()
	stopped := h.b.sched.due == nil
	h.b.sched.mu.Unlock()
	if !stopped || h.b.sched.run != nil {
		t.Fatal("the scheduler still runs after StopBackground")
	}
	h.startScheduler()
	h.waitRecord("app", "the rotation after a restart of the scheduler", func(r *staticRole) bool { return r.Password != first.Password })

	h.mustDo(logical.DeleteOperation, "static-roles/app", nil)
	h.b.sched.mu.Lock()
	_, scheduled := h.b.sched.due["app"]
	h.b.sched.mu.Unlock()
	if scheduled {
		t.Fatal("a deleted role is still scheduled")
	}
}

// TestStaticRotateRoleRetried: a rotate-role that finds the database down
// is a 502 that keeps the old password, and is retried in the background
// (as Vault does) although the role's next scheduled rotation is hours
// away. No password reaches the log.
func TestStaticRotateRoleRetried(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		clock := newFakeClock()
		h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
		h.startScheduler()
		proxy := srv.NewProxy(t)
		user, _ := srv.NewUser(t)
		h.configure("db", srv.Via(proxy), nil)
		h.staticRole("app", user, nil)
		first := h.stored("app")
		proxy.Down()
		_, err := h.do(logical.UpdateOperation, "rotate-role/app", nil)
		wantKind(t, err, logical.ErrUpstream, `database "db" is unavailable`)
		if err := srv.LoginAs(user, first.Password); err != nil {
			t.Fatalf("a failed rotate-role broke the old password: %v", err)
		}
		proxy.Up(t)
		clock.Add(time.Minute)
		h.b.sched.kick()
		r := h.waitRecord("app", "the retried rotate-role", func(r *staticRole) bool { return r.Password != first.Password })
		if err := srv.LoginAs(user, r.Password); err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{first.Password, r.Password} {
			if strings.Contains(h.logs.String(), pw) {
				t.Fatal("a password is in the log")
			}
		}
	})
}
