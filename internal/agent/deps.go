package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// Kinds of dependency a template can have.
const (
	depRead  = "read"
	depWrite = "write"
	depList  = "list"
)

// dep is one secret a template read, shared by every template that reads
// the same path with the same arguments, and when to look at it again.
type dep struct {
	kind, path string
	data       map[string]any
	secret     *api.Secret
	// due is when to fetch it anew (zero: not by time); renewAt is when to
	// renew its lease (zero: not renewed).
	due, renewAt time.Time
	ttl          time.Duration
	stale        bool
}

func depKey(kind, path string, args []string) string {
	return kind + "\x00" + path + "\x00" + strings.Join(args, "\x00")
}

// fetch answers a template's secret lookup from the pass's cache, reading
// (or writing) it on the server when it is new or stale.
func (r *renderer) fetch(kind, path string, args []string) (*api.Secret, error) {
	path = strings.Trim(path, "/")
	key := depKey(kind, path, args)
	r.used[key] = true
	if d, ok := r.deps[key]; ok && !d.stale {
		return d.secret, nil
	}
	d := &dep{kind: kind, path: path}
	if kind == depWrite {
		d.data = map[string]any{}
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("secret %q: argument %d is not key=value", path, len(d.data)+1)
			}
			d.data[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, requestTimeout)
	defer cancel()
	if kind != depWrite {
		path = r.kvPath(ctx, kind, path)
	}
	var sec *api.Secret
	var err error
	switch kind {
	case depRead:
		sec, err = r.client.Logical().ReadWithContext(ctx, path)
	case depWrite:
		sec, err = r.client.Logical().WriteWithContext(ctx, path, d.data)
	case depList:
		sec, err = r.client.Logical().ListWithContext(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, path, err)
	}
	if sec == nil {
		if kind == depList {
			sec = &api.Secret{Data: map[string]any{"keys": []any{}}}
		} else {
			return nil, fmt.Errorf("%w %q", ErrNoSecret, path)
		}
	}
	d.secret = sec
	r.schedule(d, time.Now())
	r.deps[key] = d
	return sec, nil
}

// list is the secrets template function: the sorted keys under path.
func (r *renderer) list(path string) ([]string, error) {
	sec, err := r.fetch(depList, path, nil)
	if err != nil {
		return nil, err
	}
	raw, _ := sec.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if s, ok := k.(string); ok {
			keys = append(keys, s)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// schedule decides when d is looked at again. A renewable lease is renewed
// at two thirds of its TTL (or at lease_renewal_threshold, if earlier); a
// lease that cannot be renewed, or a token a write made, is fetched anew at
// the threshold; a static
// role's credentials just after their rotation (their ttl); anything else
// (KV) every static_secret_render_interval.
func (r *renderer) schedule(d *dep, now time.Time) {
	s := d.secret
	d.stale, d.due, d.renewAt = false, time.Time{}, time.Time{}
	switch {
	case s.LeaseID != "" && s.LeaseDuration > 0:
		d.ttl = time.Duration(s.LeaseDuration) * time.Second
		if s.Renewable {
			d.renewAt = now.Add(renewDelay(d.ttl, r.threshold))
		} else {
			d.due = now.Add(scale(d.ttl, r.threshold))
		}
	case s.Auth != nil && s.Auth.LeaseDuration > 0:
		// A token made by a write (auth/token/create, a login): fetched
		// anew at the threshold of its TTL, not renewed by the agent.
		d.ttl = time.Duration(s.Auth.LeaseDuration) * time.Second
		d.due = now.Add(scale(d.ttl, r.threshold))
	case rotationTTL(s) > 0:
		d.due = now.Add(min(rotationTTL(s)+time.Second, r.interval))
	default:
		d.due = now.Add(r.interval)
	}
}

// rotationTTL is the time until a static role's next rotation, from the
// ttl its static-creds report; 0 for anything else.
func rotationTTL(s *api.Secret) time.Duration {
	if s.Data == nil {
		return 0
	}
	hasRotation := false
	for _, k := range []string{"last_vault_rotation", "rotation_period", "rotation_schedule"} {
		_, ok := s.Data[k]
		hasRotation = hasRotation || ok
	}
	n, ok := s.Data["ttl"].(json.Number)
	if !hasRotation || !ok {
		return 0
	}
	secs, err := n.Int64()
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// renewDue renews the leases whose time has come. A renewal that fails
// makes the secret stale (fetched anew); one capped by the lease's max TTL
// schedules a new fetch at the threshold of what is left.
func (r *renderer) renewDue(ctx context.Context, client *api.Client, now time.Time) {
	r.ctx, r.client = ctx, client
	for _, d := range r.deps {
		if d.renewAt.IsZero() || d.renewAt.After(now) || d.stale {
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, requestTimeout)
		sec, err := r.client.Sys().RenewWithContext(ctx, d.secret.LeaseID, int(d.ttl.Seconds()))
		cancel()
		if err != nil || sec == nil {
			r.log.Warn("lease renewal failed; fetching a new secret", "path", d.path, "lease_id", d.secret.LeaseID, "error", err)
			d.stale = true
			continue
		}
		got := time.Duration(sec.LeaseDuration) * time.Second
		d.renewAt = time.Time{}
		switch {
		case got >= d.ttl && sec.Renewable:
			d.renewAt = now.Add(renewDelay(got, r.threshold))
		default:
			d.due = now.Add(scale(got, r.threshold))
			r.log.Info("lease reaches its max TTL; a new secret will be fetched", "path", d.path, "lease_id", d.secret.LeaseID, "in", d.due.Sub(now).Round(time.Second))
		}
	}
}

// markDue makes stale every dependency whose fetch time has come and
// reports whether any is stale.
func (r *renderer) markDue(now time.Time) bool {
	any := false
	for _, d := range r.deps {
		if !d.due.IsZero() && !d.due.After(now) {
			d.stale = true
		}
		any = any || d.stale
	}
	return any
}

// nextWake is the earliest time a dependency needs attention; zero when
// none does.
func (r *renderer) nextWake() time.Time {
	var t time.Time
	for _, d := range r.deps {
		for _, w := range []time.Time{d.due, d.renewAt} {
			if !w.IsZero() && (t.IsZero() || w.Before(t)) {
				t = w
			}
		}
	}
	return t
}
