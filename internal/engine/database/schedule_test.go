package database

import (
	"strings"
	"testing"
	"time"
)

// TestNextAfter: a period counts from the last rotation; a schedule is its
// first slot after it, in the schedule's time zone when it names one.
func TestNextAfter(t *testing.T) {
	last := time.Date(2025, 3, 14, 10, 20, 0, 0, time.UTC) // a Friday
	for name, tc := range map[string]struct {
		role staticRole
		want time.Time
	}{
		"period":          {staticRole{RotationPeriod: 90 * time.Minute}, last.Add(90 * time.Minute)},
		"every hour at 5": {staticRole{RotationSchedule: "5 * * * *"}, time.Date(2025, 3, 14, 11, 5, 0, 0, time.UTC)},
		"saturdays":       {staticRole{RotationSchedule: "0 0 * * SAT"}, time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)},
		"time zone": {staticRole{RotationSchedule: "CRON_TZ=Europe/Paris 0 12 * * *"},
			time.Date(2025, 3, 14, 11, 0, 0, 0, time.UTC)},
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			if got := tc.role.nextAfter(last); !got.Equal(tc.want) {
				t.Fatalf("nextAfter = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInsideWindow: only a schedule with a window closes; the window runs
// from the slot for rotation_window.
func TestInsideWindow(t *testing.T) {
	slot := time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		role staticRole
		at   time.Time
		want bool
	}{
		"period, long overdue":     {staticRole{RotationPeriod: time.Hour, NextVaultRotation: slot}, slot.Add(48 * time.Hour), true},
		"schedule without window":  {staticRole{RotationSchedule: "0 0 * * SAT", NextVaultRotation: slot}, slot.Add(48 * time.Hour), true},
		"inside the window":        {staticRole{RotationSchedule: "0 0 * * SAT", RotationWindow: time.Hour, NextVaultRotation: slot}, slot.Add(59 * time.Minute), true},
		"at the end of the window": {staticRole{RotationSchedule: "0 0 * * SAT", RotationWindow: time.Hour, NextVaultRotation: slot}, slot.Add(time.Hour), false},
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			if got := tc.role.insideWindow(tc.at); got != tc.want {
				t.Fatalf("insideWindow = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBackoff: the wait doubles from the base up to the cap, and jitter
// keeps it between half and all of that.
func TestBackoff(t *testing.T) {
	s := &scheduler{base: 10 * time.Second, max: 5 * time.Minute}
	for name, tc := range map[string]struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		"first, least":   {1, 0, 5 * time.Second},
		"first, most":    {1, 0.999999, 10 * time.Second},
		"third":          {3, 0, 20 * time.Second},
		"capped":         {20, 0, 150 * time.Second},
		"capped, most":   {1000, 0.999999, 5 * time.Minute},
		"many, no panic": {1 << 30, 0.5, 225 * time.Second},
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			s.jitter = func() float64 { return tc.jitter }
			if got := s.backoff(tc.n).Round(time.Second); got != tc.want {
				t.Fatalf("backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// FuzzParseSchedule: whatever a client sends as rotation_schedule is
// either refused with an error or gives a schedule with a next slot.
func FuzzParseSchedule(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "0 0 * * SAT", "*/15 0-6 1,15 JAN-MAR MON-FRI", "CRON_TZ=America/New_York 0 9 * * 1",
		"TZ=UTC 0 0 1 1 *", "0 0 30 2 *", "@daily", "@every 1h", "*/10 * * * * *", "", " ", "61 * * * *",
		"0 0 * * 8", "CRON_TZ=Nowhere/Atlantis 0 0 * * *", "1-0 * * * *", "*/0 * * * *", strings.Repeat("1,", 200) + "1 * * * *",
	} {
		f.Add(seed)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseSchedule(s)
		if err != nil {
			return
		}
		if next := spec.Next(now); !next.After(now) {
			t.Fatalf("parsed %q but its next slot is %v", s, next)
		}
	})
}

// TestMountShared: backends built for one mount (a rebuild or a remount
// runs the new one beside the old) share their static role locks, so their
// schedulers never rotate one role at once; other mounts, and backends
// built outside a mount, have their own.
func TestMountShared(t *testing.T) {
	a, b := acquireShared("uuid-1"), acquireShared("uuid-1")
	other, private := acquireShared("uuid-2"), acquireShared("")
	if a != b || a == other || private == acquireShared("") {
		t.Fatal("locks are not shared by mount")
	}
	releaseShared("uuid-1")
	if acquireShared("uuid-1") != a {
		t.Fatal("released while a backend of the mount still holds it")
	}
	for range 2 {
		releaseShared("uuid-1")
	}
	releaseShared("uuid-2")
	if c := acquireShared("uuid-1"); c == a {
		t.Fatal("kept after every backend released it")
	}
	releaseShared("uuid-1")
}
