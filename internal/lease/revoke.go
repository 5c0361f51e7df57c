package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Revoke revokes lease id now: the issuing mount revokes the secret, then
// the lease is deleted. Revoking a lease that does not exist succeeds, as
// in Vault. When the mount fails, the lease stays, its revocation is
// retried in the background with backoff, and the error returned (a 400,
// as Vault's) says so.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if _, err := cleanID(id, false); err != nil {
		return nil
	}
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return err
	}
	if err := m.revokeLocked(ctx, e, false); err != nil {
		var me *mountError
		if !errors.As(err, &me) {
			return err
		}
		m.recordFailure(ctx, e, me.err, m.now())
		return revokeFailed(id, me.err)
	}
	return nil
}

// RevokeLater marks lease id due now, so that the expiry loop revokes it
// (and keeps retrying if the mount fails); the lease can no longer be
// renewed. A lease that does not exist is not an error.
func (m *Manager) RevokeLater(ctx context.Context, id string) error {
	if _, err := cleanID(id, false); err != nil {
		return nil
	}
	return m.markDue(ctx, id)
}

// RevokePrefix revokes every lease whose ID starts with prefix, taken as a
// path: "db/creds" covers "db/creds/…" but not "db/credsx/…". A prefix that
// is itself a lease ID revokes that lease. With sync the leases are
// revoked one by one before it returns, stopping at the first failure
// (that lease is retried in the background); otherwise they are marked
// due for the expiry loop. force revokes synchronously and deletes each
// lease even when its mount fails to revoke the secret: the operator's way
// out when the secret is gone or cannot be reached, logged as a warning. It
// returns how many leases it revoked or marked.
func (m *Manager) RevokePrefix(ctx context.Context, prefix string, sync, force bool) (int, error) {
	if _, err := cleanID(prefix, true); err != nil {
		return 0, err
	}
	ids, err := m.underPrefix(ctx, prefix)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		switch {
		case force || sync:
			err = m.revokeNow(ctx, id, force)
		default:
			err = m.markDue(ctx, id)
		}
		var me *mountError
		if errors.As(err, &me) {
			return i, logical.CodedError(errKind(me.err), "failed to revoke %q (%d / %d): %s; it stays and its revocation is retried in the background",
				id, i+1, len(ids), errText(me.err))
		}
		if err != nil {
			return i, fmt.Errorf("revoke %q (%d / %d): %w", id, i+1, len(ids), err)
		}
	}
	return len(ids), nil
}

// underPrefix returns the IDs of the leases under prefix (see RevokePrefix).
func (m *Manager) underPrefix(ctx context.Context, prefix string) ([]string, error) {
	if !strings.HasSuffix(prefix, "/") {
		e, err := m.load(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if e != nil {
			return []string{prefix}, nil
		}
		prefix += "/"
	}
	keys, err := logical.CollectKeys(ctx, m.storage, idPrefix+prefix)
	if err != nil {
		return nil, fmt.Errorf("list leases under %q: %w", prefix, err)
	}
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, idPrefix)
	}
	return keys, nil
}

// revokeNow is Revoke for one lease of a prefix, with force.
func (m *Manager) revokeNow(ctx context.Context, id string, force bool) error {
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return err
	}
	err = m.revokeLocked(ctx, e, force)
	var me *mountError
	if errors.As(err, &me) {
		m.recordFailure(ctx, e, me.err, m.now())
	}
	return err
}

// mountError is a failure of the mount to revoke a secret, as opposed to
// one of storage.
type mountError struct{ err error }

func (e *mountError) Error() string { return e.err.Error() }
func (e *mountError) Unwrap() error { return e.err }

// RevokeByToken marks due every lease owned by the token hash, as the
// token store's OnRevoke for a token being revoked. It returns how many.
func (m *Manager) RevokeByToken(ctx context.Context, hash string) (int, error) {
	if !isHex(hash) {
		return 0, nil // token hashes are hex; anything else owns nothing
	}
	keys, err := m.storage.List(ctx, tokenPrefix+hash+"/")
	if err != nil {
		return 0, fmt.Errorf("list the leases of a token: %w", err)
	}
	n := 0
	var first error
	for _, k := range keys {
		se, err := m.storage.Get(ctx, tokenPrefix+hash+"/"+k)
		if err == nil && se != nil {
			err = m.markDue(ctx, string(se.Value))
			n++
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return n, first
}

// markDue makes lease id due now (or retries a failing one now).
func (m *Manager) markDue(ctx context.Context, id string) error {
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return err
	}
	now := m.now()
	old, due := e.Index, now
	if r := e.Revocation; r != nil {
		r.NextAttempt = now
		e.Index = indexName(now, flagRetry, e.ID)
	} else {
		if e.ExpireTime.After(now) {
			e.ExpireTime = now
		}
		due = e.ExpireTime
		e.Index = indexName(due, flagExpiry, e.ID)
	}
	if err := m.save(ctx, e, old); err != nil {
		return err
	}
	m.track(e.ID, due)
	return nil
}

// revokeTimeout bounds one revocation at the mount, as Vault's maximum
// request duration does, so that an upstream that hangs fails the attempt
// (and it is retried) instead of holding a worker for good.
const revokeTimeout = 90 * time.Second

// revokeLocked has the mount revoke e's secret, then deletes the lease.
// With force a failure of the mount is logged and the lease deleted
// anyway. The caller holds e's lock.
func (m *Manager) revokeLocked(ctx context.Context, e *entry, force bool) error {
	req := &logical.Request{Operation: logical.RevokeOperation, Path: e.Path, Secret: e.secret()}
	rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	_, err := m.mounts.HandleLeaseRequest(rctx, req)
	cancel()
	if err != nil {
		if !force {
			return &mountError{err}
		}
		m.logger.Warn("revoke-force: the mount could not revoke the secret; deleting the lease anyway",
			"lease_id", e.ID, "path", e.Path, "error", errText(err))
	}
	ops := []logical.TxnOp{
		{Delete: true, Entry: &logical.StorageEntry{Key: idPrefix + e.ID}},
		{Delete: true, Entry: &logical.StorageEntry{Key: expPrefix + e.Index}},
	}
	if e.Token != "" {
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: tokenKey(e.Token, e.ID)}})
	}
	if err := logical.ApplyTxn(ctx, m.storage, ops); err != nil {
		return fmt.Errorf("delete lease %q: %w", e.ID, err)
	}
	m.q.drop(e.ID)
	m.markFailing(e.ID, false)
	if e.Revocation != nil {
		m.logger.Info("revoked a lease whose revocation had failed before", "lease_id", e.ID, "attempts", e.Revocation.Attempts+1)
	} else {
		m.logger.Debug("revoked lease", "lease_id", e.ID)
	}
	return nil
}

// recordFailure keeps e after a failed revocation and schedules the next
// attempt with capped exponential backoff and jitter. The caller holds e's
// lock. A shutdown in progress records nothing: the stored lease stays due
// and the next start tries again.
func (m *Manager) recordFailure(ctx context.Context, e *entry, cause error, now time.Time) {
	if ctx.Err() != nil {
		return
	}
	r := e.Revocation
	if r == nil {
		r = &revocation{}
	}
	r.Attempts++
	r.Error, r.LastAttempt = truncate(errText(cause)), now
	r.NextAttempt = now.Add(m.backoff(r.Attempts))
	old := e.Index
	e.Revocation, e.Index = r, indexName(r.NextAttempt, flagRetry, e.ID)
	if err := m.save(ctx, e, old); err != nil {
		m.logger.Error("could not record a failed revocation", "lease_id", e.ID, "error", err.Error())
	}
	m.track(e.ID, r.NextAttempt)
	m.markFailing(e.ID, true)
	m.logger.Error("lease revocation failed; it stays and will be retried",
		"lease_id", e.ID, "path", e.Path, "attempts", r.Attempts, "next_attempt", r.NextAttempt.UTC().Format(time.RFC3339), "error", r.Error)
}

// backoff is the wait before retry number n (n ≥ 1): a random time
// between half and all of base·2^(n-1), which is capped.
func (m *Manager) backoff(n int) time.Duration {
	d := m.cap
	if n-1 < 32 {
		if b := m.base << (n - 1); b > 0 && b < m.cap {
			d = b
		}
	}
	return d/2 + time.Duration(m.jitter()*float64(d/2))
}

// errText is the message of an error from a mount, for logs and the list
// of failing leases: a user error's own message, or the error's text.
func errText(err error) string {
	var ue *logical.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return err.Error()
}

func truncate(s string) string {
	if len(s) > maxErrorLen {
		return s[:maxErrorLen]
	}
	return s
}

// revokeFailed is the error of a synchronous revocation that failed.
func revokeFailed(id string, err error) error {
	return logical.CodedError(errKind(err), "failed to revoke lease %s: %s; the lease stays and its revocation is retried in the background (sys/leases/revoke-force removes it without the mount)", id, errText(err))
}

// errKind is the status a failed revocation answers with: the engine's own
// kind when it gave one (a 502 when its upstream is down), otherwise a 400
// as in Vault.
func errKind(err error) error {
	var ue *logical.UserError
	if errors.As(err, &ue) {
		return ue.Kind
	}
	return logical.ErrInvalidRequest
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
