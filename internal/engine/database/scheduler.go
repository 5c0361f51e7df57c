package database

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of the static role rotation scheduler.
const (
	// staticRetryBase and staticRetryMax shape the backoff after a failed
	// rotation: the n-th retry comes a random time between half and all
	// of base·2^(n-1) later, at most max.
	staticRetryBase = 10 * time.Second
	staticRetryMax  = 5 * time.Minute
	// staticMaxSleep bounds how long the loop sleeps, so that a clock
	// that jumps is noticed.
	staticMaxSleep = 30 * time.Second
	// staticWorkers is how many rotations run at once.
	staticWorkers = 4
	// staticRotationTimeout bounds one scheduled rotation.
	staticRotationTimeout = time.Minute
)

// scheduler rotates static roles' passwords when they come due, from a
// due time per role kept in memory and rebuilt from storage (each role's
// NextVaultRotation, or now for a role with an unfinished rotation) when it
// starts. It runs only between start and stop: the engine starts it when
// the mount is loaded (unseal, enable) and stops it in Cleanup (seal,
// disable); StopBackground and StartBackground let a later HA layer run
// it on the active node only. Safe for concurrent use.
//
// A role's due time is changed only by whoever holds the role's lock, so
// that the last writer of the record also sets when it is next due.
type scheduler struct {
	b      *backend
	base   time.Duration
	max    time.Duration
	jitter func() float64

	runMu sync.Mutex
	run   *schedRun

	mu       sync.Mutex
	due      map[string]time.Time // nil while stopped
	failures map[string]int
	wake     chan struct{}
}

// schedRun is one start…stop period.
type schedRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newScheduler(b *backend) *scheduler {
	return &scheduler{b: b, base: staticRetryBase, max: staticRetryMax, jitter: rand.Float64, wake: make(chan struct{}, 1)}
}

// start begins scheduling in the background: the due times are read from
// storage, then roles are rotated as they come due. Starting a running
// scheduler does nothing; ctx bounds the run, like stop.
func (s *scheduler) start(ctx context.Context) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.run != nil {
		return
	}
	r := &schedRun{}
	r.ctx, r.cancel = context.WithCancel(ctx)
	s.mu.Lock()
	s.due, s.failures = map[string]time.Time{}, map[string]int{}
	s.mu.Unlock()
	s.run = r
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if s.restore(r.ctx) {
			s.loop(r)
		}
	}()
}

// stop ends scheduling and waits for rotations in flight (whose database
// calls are cancelled; an interrupted one is settled on the next start).
// Stopping a stopped scheduler does nothing; it may be started again.
func (s *scheduler) stop() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.run == nil {
		return
	}
	s.run.cancel()
	s.run.wg.Wait()
	s.run = nil
	s.mu.Lock()
	s.due, s.failures = nil, nil
	s.mu.Unlock()
}

// set makes role name due at t; nothing while stopped. The caller holds
// the role's lock.
func (s *scheduler) set(name string, t time.Time) {
	s.mu.Lock()
	if s.due != nil {
		s.due[name] = t
	}
	s.mu.Unlock()
	s.kick()
}

// remove forgets role name. The caller holds the role's lock.
func (s *scheduler) remove(name string) {
	s.mu.Lock()
	delete(s.due, name)
	delete(s.failures, name)
	s.mu.Unlock()
}

// kick makes the loop look at the due times again (a new role, a clock
// moved in a test).
func (s *scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// failed counts one more failure of name and returns how many in a row.
func (s *scheduler) failed(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		return 1
	}
	s.failures[name]++
	return s.failures[name]
}

// retrying reports whether name's last rotation failed.
func (s *scheduler) retrying(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures[name] > 0
}

func (s *scheduler) succeeded(name string) {
	s.mu.Lock()
	delete(s.failures, name)
	s.mu.Unlock()
}

// backoff is how long to wait after the n-th failure in a row.
func (s *scheduler) backoff(n int) time.Duration {
	d := s.base
	for i := 1; i < n && d < s.max; i++ {
		d *= 2
	}
	d = min(d, s.max)
	return d/2 + time.Duration(s.jitter()*float64(d/2))
}

// takeDue removes and returns the roles due at now, and the earliest due
// time of the others (zero when none).
func (s *scheduler) takeDue(now time.Time) ([]string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	var next time.Time
	for name, t := range s.due {
		if !t.After(now) {
			names = append(names, name)
			delete(s.due, name)
		} else if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return names, next
}

// restore reads every static role's due time from storage. It retries a
// storage that fails until it works or the run ends, and reports whether
// the run goes on.
func (s *scheduler) restore(ctx context.Context) bool {
	for {
		keys, err := s.b.storage.List(ctx, staticRolePrefix)
		if err == nil {
			for _, name := range keys {
				s.restoreOne(ctx, name)
			}
			return true
		}
		s.b.logger.Error("could not list static roles to schedule their rotations; retrying", "error", err.Error())
		t := time.NewTimer(s.base)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

func (s *scheduler) restoreOne(ctx context.Context, name string) {
	unlock := s.b.static.locks.lock(name)
	defer unlock()
	r, err := s.b.loadStaticRole(ctx, name)
	switch {
	case err != nil:
		s.b.logger.Error("could not read a static role to schedule it; trying now", "role", name, "error", err.Error())
		s.set(name, s.b.now())
	case r == nil:
	case r.PendingPassword != "" || r.NextVaultRotation.IsZero():
		// A rotation the server did not finish, or one never scheduled.
		s.set(name, s.b.now())
	default:
		s.set(name, r.NextVaultRotation)
	}
}

// loop starts the rotations that are due, at most staticWorkers at once,
// and sleeps until the next one or a kick.
func (s *scheduler) loop(r *schedRun) {
	sem := make(chan struct{}, staticWorkers)
	for {
		now := s.b.now()
		names, next := s.takeDue(now)
		for _, name := range names {
			select {
			case sem <- struct{}{}:
			case <-r.ctx.Done():
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer func() { <-sem }()
				s.rotateDue(r.ctx, name)
			}()
		}
		sleep := staticMaxSleep
		if !next.IsZero() {
			sleep = min(sleep, next.Sub(now))
		}
		t := time.NewTimer(sleep)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// rotateDue rotates role name if it is still due once its lock is held
// (an update may have moved it, a deletion removed it), and schedules it
// again.
func (s *scheduler) rotateDue(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, staticRotationTimeout)
	defer cancel()
	unlock := s.b.static.locks.lock(name)
	defer unlock()
	r, err := s.b.loadStaticRole(ctx, name)
	if err != nil {
		s.b.logger.Error("could not read a static role to rotate it", "role", name, "error", err.Error())
		s.set(name, s.b.now().Add(s.backoff(s.failed(name))))
		return
	}
	if r == nil {
		s.remove(name)
		return
	}
	now := s.b.now()
	// A role that failed (a scheduled rotation, or a rotate-role whose
	// next rotation is still ahead, as Vault retries those too) is due
	// whatever its record says.
	if r.PendingPassword == "" && !s.retrying(name) {
		if r.NextVaultRotation.After(now) {
			s.set(name, r.NextVaultRotation)
			return
		}
		if !r.insideWindow(now) {
			s.skipSlot(ctx, name, r, now)
			return
		}
	}
	s.after(ctx, name, s.b.rotateStatic(ctx, name, r))
}

// after schedules role name once a rotation of it ended with err: at its
// next rotation when it worked, else after a backoff, or, for a schedule
// whose rotation_window would be over by then, at the schedule's next
// slot. The caller holds the role's lock.
func (s *scheduler) after(ctx context.Context, name string, err error) {
	r, lerr := s.b.loadStaticRole(ctx, name)
	switch {
	case lerr != nil:
		s.b.logger.Error("could not read a static role after rotating it", "role", name, "error", lerr.Error())
		s.set(name, s.b.now().Add(s.backoff(s.failed(name))))
		return
	case r == nil:
		s.remove(name)
		return
	case err == nil:
		s.succeeded(name)
		s.b.logger.Info("rotated the password of a static role", "role", name, "database", r.DBName,
			"next_rotation", r.NextVaultRotation.Format(time.RFC3339))
		s.set(name, r.NextVaultRotation)
		return
	}
	n := s.failed(name)
	now := s.b.now()
	retry := now.Add(s.backoff(n))
	if r.PendingPassword == "" && r.NextVaultRotation.Before(now) && !r.insideWindow(retry) {
		s.b.logger.Error("could not rotate the password of a static role; its rotation window ends before the next attempt",
			"role", name, "database", r.DBName, "attempt", n, "error", err.Error())
		s.skipSlot(ctx, name, r, now)
		return
	}
	s.b.logger.Error("could not rotate the password of a static role; the previous password stays in force and the rotation is retried",
		"role", name, "database", r.DBName, "attempt", n, "retry_at", retry.Format(time.RFC3339), "error", err.Error())
	s.set(name, retry)
}

// skipSlot moves a schedule-based role whose rotation_window has passed
// to the schedule's next slot, as Vault does: no rotation outside the
// window.
func (s *scheduler) skipSlot(ctx context.Context, name string, r *staticRole, now time.Time) {
	r.NextVaultRotation = r.nextAfter(now)
	if err := s.b.saveStaticRole(ctx, name, r); err != nil {
		s.b.logger.Error("could not store the next rotation of a static role", "role", name, "error", err.Error())
	}
	s.succeeded(name)
	s.b.logger.Warn("the rotation window of a static role passed; its next rotation is the schedule's next slot",
		"role", name, "next_rotation", r.NextVaultRotation.Format(time.RFC3339))
	s.set(name, r.NextVaultRotation)
}
