package lease

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// List returns the names directly under prefix among the lease IDs, as a
// storage listing does: lease IDs' last segments, and folders ending in
// "/". An empty prefix lists the top level (the mounts that have leases).
func (m *Manager) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" {
		if _, err := cleanID(prefix, true); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
	}
	names, err := m.storage.List(ctx, idPrefix+prefix)
	if err != nil {
		return nil, fmt.Errorf("list leases under %q: %w", prefix, err)
	}
	return names, nil
}

// Failure is a lease whose revocation failed and is being retried: what
// Vault calls an irrevocable lease, except that Coffer never stops trying.
type Failure struct {
	ID       string
	Path     string
	Accessor string
	// Error is the mount's last error (at most 240 bytes).
	Error       string
	Attempts    int
	ExpireTime  time.Time
	NextAttempt time.Time
}

// Failures returns up to limit failing leases (all when limit ≤ 0) in
// order of expiry, then ID, and whether more exist. Only failing leases are
// read from storage. A lease whose mount is gone reports the accessor
// "mount-accessor-not-found", as Vault does.
func (m *Manager) Failures(ctx context.Context, limit int) ([]Failure, bool, error) {
	m.failMu.Lock()
	ids := make([]string, 0, len(m.failing))
	for id := range m.failing {
		ids = append(ids, id)
	}
	m.failMu.Unlock()
	out := make([]Failure, 0, len(ids))
	for _, id := range ids {
		e, err := m.load(ctx, id)
		if err != nil {
			return nil, false, err
		}
		if e == nil || e.Revocation == nil {
			continue
		}
		f := Failure{
			ID: e.ID, Path: e.Path, Accessor: "mount-accessor-not-found", Error: e.Revocation.Error,
			Attempts: e.Revocation.Attempts, ExpireTime: e.ExpireTime, NextAttempt: e.Revocation.NextAttempt,
		}
		if mi, ok := m.mounts.Mount(e.Path); ok {
			f.Accessor = mi.Accessor
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Failure) int {
		if c := a.ExpireTime.Compare(b.ExpireTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// FailureCounts returns how many leases are failing, in all and by the
// accessor of their mount, without reading storage.
func (m *Manager) FailureCounts() (int, map[string]int) {
	m.failMu.Lock()
	ids := make([]string, 0, len(m.failing))
	for id := range m.failing {
		ids = append(ids, id)
	}
	m.failMu.Unlock()
	counts := map[string]int{}
	for _, id := range ids {
		acc := "mount-accessor-not-found"
		if mi, ok := m.mounts.Mount(id); ok {
			acc = mi.Accessor
		}
		counts[acc]++
	}
	return len(ids), counts
}
