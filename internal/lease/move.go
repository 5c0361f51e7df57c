package lease

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// MovePrefix moves every lease under the mount path from (such as "db/")
// to the same place under to, as when that mount is moved (sys/remount):
// the lease ID, the path its renewals and revocations are sent to, its
// index keys and its failure state all follow, and it keeps its expiry.
// Clients holding an old lease ID must use the new one. It is idempotent
// (a move cut short is finished by running it again) and returns how many
// leases it moved.
func (m *Manager) MovePrefix(ctx context.Context, from, to string) (int, error) {
	if from == to || !strings.HasSuffix(from, "/") || !strings.HasSuffix(to, "/") {
		return 0, nil
	}
	if _, err := cleanID(from, true); err != nil {
		return 0, err
	}
	if _, err := cleanID(to, true); err != nil {
		return 0, err
	}
	ids, err := m.underPrefix(ctx, from)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		moved, err := m.move(ctx, id, to+strings.TrimPrefix(id, from), from, to)
		if err != nil {
			return n, err
		}
		if moved {
			n++
		}
	}
	return n, nil
}

// move re-keys one lease under both IDs' locks, in one transaction.
func (m *Manager) move(ctx context.Context, id, newID, from, to string) (bool, error) {
	unlock := m.lockBoth(id, newID)
	defer unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return false, err
	}
	moved := *e
	moved.ID, moved.Path = newID, to+strings.TrimPrefix(e.Path, from)
	flag, due := byte(flagExpiry), e.ExpireTime
	if e.Revocation != nil {
		flag, due = flagRetry, e.Revocation.NextAttempt
	}
	moved.Index = indexName(due, flag, newID)
	ops := []logical.TxnOp{
		{Delete: true, Entry: &logical.StorageEntry{Key: idPrefix + id}},
		{Delete: true, Entry: &logical.StorageEntry{Key: expPrefix + e.Index}},
	}
	if e.Token != "" {
		ops = append(ops,
			logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: tokenKey(e.Token, id)}},
			logical.TxnOp{Entry: &logical.StorageEntry{Key: tokenKey(e.Token, newID), Value: []byte(newID)}})
	}
	if err := m.save(ctx, &moved, "", ops...); err != nil {
		return false, err
	}
	m.q.drop(id)
	m.markFailing(id, false)
	m.track(newID, due)
	m.markFailing(newID, e.Revocation != nil)
	return true, nil
}

// lockBoth locks the stripes of two lease IDs in a fixed order.
func (m *Manager) lockBoth(a, b string) func() {
	sa, sb := stripe(a), stripe(b)
	if sa == sb {
		m.locks[sa].Lock()
		return m.locks[sa].Unlock
	}
	if sb < sa {
		sa, sb = sb, sa // a fixed order, so that two movers never deadlock
	}
	ma, mb := &m.locks[sa], &m.locks[sb]
	ma.Lock()
	mb.Lock()
	return func() { mb.Unlock(); ma.Unlock() }
}
