package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TidyResult counts what one Tidy run repaired.
type TidyResult struct {
	// Scanned is how many leases were read.
	Scanned int
	// Orphaned is how many leases were marked for revocation because the
	// token that owned them is gone (its revocation was cut short).
	Orphaned int
	// Reindexed is how many leases had no expiry index key and got one.
	Reindexed int
	// StaleIndex is how many expiry index keys named no lease, or did not
	// decode, and were deleted.
	StaleIndex int
	// StaleTokenIndex is how many token index keys named no lease and were
	// deleted.
	StaleTokenIndex int
}

// Tidy walks every lease and repairs what a crash on storage without
// transactions, or a token revocation cut short, can leave behind: leases
// owned by tokens that no longer exist (revoked, through the expiry loop),
// leases missing from the expiry index, and index keys naming no lease. It
// reads every lease, so it is an operator's tool (sys/leases/tidy), not
// something for request paths. A failure on one lease does not stop the
// rest; the errors are joined.
func (m *Manager) Tidy(ctx context.Context) (TidyResult, error) {
	var res TidyResult
	index, err := m.indexByID(ctx, &res)
	if err != nil {
		return res, err
	}
	keys, err := logical.CollectKeys(ctx, m.storage, idPrefix)
	if err != nil {
		return res, fmt.Errorf("list leases: %w", err)
	}
	live := make(map[string]struct{}, len(keys))
	tokens := map[string]bool{}
	var errs []error
	for _, k := range keys {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		id := strings.TrimPrefix(k, idPrefix)
		live[id] = struct{}{}
		res.Scanned++
		if err := m.tidyLease(ctx, id, index[id], tokens, &res); err != nil {
			errs = append(errs, err)
		}
		delete(index, id)
	}
	for id, names := range index {
		if _, ok := live[id]; ok {
			continue
		}
		for _, name := range names {
			if err := m.storage.Delete(ctx, expPrefix+name); err != nil {
				errs = append(errs, err)
				continue
			}
			res.StaleIndex++
		}
	}
	if err := m.tidyTokenIndex(ctx, live, &res); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// indexByID lists the expiry index by lease ID, deleting names that do
// not decode.
func (m *Manager) indexByID(ctx context.Context, res *TidyResult) (map[string][]string, error) {
	names, err := m.storage.List(ctx, expPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the expiry index: %w", err)
	}
	out := make(map[string][]string, len(names))
	for _, name := range names {
		_, _, id, err := parseIndexName(name)
		if err != nil {
			if err := m.storage.Delete(ctx, expPrefix+name); err != nil {
				return nil, err
			}
			res.StaleIndex++
			continue
		}
		out[id] = append(out[id], name)
	}
	return out, nil
}

// tidyLease repairs one lease's index keys and revokes it when its owner
// is gone. tokens caches whether each owner exists.
func (m *Manager) tidyLease(ctx context.Context, id string, names []string, tokens map[string]bool, res *TidyResult) error {
	orphan, err := m.reindex(ctx, id, names, tokens, res)
	if err != nil || !orphan {
		return err
	}
	res.Orphaned++
	m.logger.Info("tidy: revoking a lease whose token is gone", "lease_id", id)
	return m.markDue(ctx, id)
}

// reindex fixes the index keys of lease id under its lock and reports
// whether its owner is gone.
func (m *Manager) reindex(ctx context.Context, id string, names []string, tokens map[string]bool, res *TidyResult) (bool, error) {
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return false, err
	}
	found := false
	for _, name := range names {
		if name == e.Index {
			found = true
			continue
		}
		if err := m.storage.Delete(ctx, expPrefix+name); err != nil {
			return false, err
		}
		res.StaleIndex++
	}
	if !found {
		if err := m.storage.Put(ctx, &logical.StorageEntry{Key: expPrefix + e.Index}); err != nil {
			return false, err
		}
		at, _, _, err := parseIndexName(e.Index)
		if err != nil {
			return false, err
		}
		m.track(e.ID, time.Unix(0, at))
		res.Reindexed++
	}
	if e.Token == "" || m.exists == nil {
		return false, nil
	}
	alive, seen := tokens[e.Token]
	if !seen {
		if alive, err = m.exists(ctx, e.Token); err != nil {
			return false, err
		}
		tokens[e.Token] = alive
	}
	return !alive, nil
}

// tidyTokenIndex deletes token index keys whose lease is gone.
func (m *Manager) tidyTokenIndex(ctx context.Context, live map[string]struct{}, res *TidyResult) error {
	hashes, err := m.storage.List(ctx, tokenPrefix)
	if err != nil {
		return fmt.Errorf("list the token index: %w", err)
	}
	for _, h := range hashes {
		if !strings.HasSuffix(h, "/") {
			continue
		}
		keys, err := m.storage.List(ctx, tokenPrefix+h)
		if err != nil {
			return err
		}
		for _, k := range keys {
			se, err := m.storage.Get(ctx, tokenPrefix+h+k)
			if err != nil {
				return err
			}
			if se != nil {
				if _, ok := live[string(se.Value)]; ok {
					continue
				}
			}
			if err := m.storage.Delete(ctx, tokenPrefix+h+k); err != nil {
				return err
			}
			res.StaleTokenIndex++
		}
	}
	return nil
}

// StartTidy runs Tidy in the background of the current run and logs its
// result. It reports false, doing nothing, when the manager is stopped or
// a tidy is already running.
func (m *Manager) StartTidy() bool {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	r := m.run
	if r == nil || !r.tidy.CompareAndSwap(false, true) {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.tidy.Store(false)
		m.logger.Info("beginning tidy operation on leases")
		res, err := m.Tidy(r.ctx)
		log := m.logger.With("scanned", res.Scanned, "orphaned", res.Orphaned, "reindexed", res.Reindexed,
			"stale_index", res.StaleIndex, "stale_token_index", res.StaleTokenIndex)
		if err != nil {
			log.Error("tidy operation on leases failed", "error", err.Error())
			return
		}
		log.Info("finished tidy operation on leases")
	}()
	return true
}
