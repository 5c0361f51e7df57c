package database

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Vault's limits for static roles' rotation settings.
const (
	// minRotationPeriod is the shortest rotation_period.
	minRotationPeriod = 5 * time.Second
	// minRotationWindow is the shortest rotation_window.
	minRotationWindow = time.Hour
)

// scheduleParser reads rotation_schedule as Vault does: the five standard
// cron fields (minute, hour, day of month, month, day of week), with
// names (SAT, JAN), ranges, lists and steps, and an optional CRON_TZ= or
// TZ= prefix; no seconds field and no @descriptors.
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// maxScheduleLength bounds what is parsed; a real schedule is far shorter.
const maxScheduleLength = 256

// parseSchedule parses a rotation_schedule. Errors are written for the
// person who sent it.
func parseSchedule(s string) (spec *cron.SpecSchedule, err error) {
	if len(s) > maxScheduleLength {
		return nil, fmt.Errorf("longer than %d characters", maxScheduleLength)
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	// robfig/cron v3.0.1 panics on some malformed input ("TZ=" with
	// nothing after it); input from a client must never panic.
	defer func() {
		if recover() != nil {
			spec, err = nil, fmt.Errorf("not a cron schedule of five fields")
		}
	}()
	sched, err := scheduleParser.Parse(s)
	if err != nil {
		return nil, err
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("not a cron schedule of five fields")
	}
	// A schedule that never fires (February 30th) would leave the role
	// without a next rotation; cron's Next answers the zero time for it.
	if spec.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("the schedule never fires")
	}
	return spec, nil
}

// nextAfter is when a role whose password was set at t is due next: a
// rotation_period after t, or the schedule's first time after t.
func (r *staticRole) nextAfter(t time.Time) time.Time {
	if r.RotationSchedule == "" {
		return t.Add(r.RotationPeriod)
	}
	spec, err := parseSchedule(r.RotationSchedule)
	if err != nil {
		// Stored schedules were parsed when written; should one no longer
		// parse (a time zone gone from the system), fall back to a day
		// rather than never rotating again.
		return t.Add(24 * time.Hour)
	}
	return spec.Next(t)
}

// insideWindow reports whether a rotation due at r.NextVaultRotation may
// still run at t: always, except for a schedule with a rotation_window,
// whose slot ends a window after it began.
func (r *staticRole) insideWindow(t time.Time) bool {
	if r.RotationSchedule == "" || r.RotationWindow == 0 {
		return true
	}
	return t.Before(r.NextVaultRotation.Add(r.RotationWindow))
}
