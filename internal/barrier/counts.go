package barrier

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/physical"
)

// How the encryption counts survive restarts without a storage write per
// encryption: each term's count may only grow up to a reservation that is
// already stored in the keyring. When a term runs out of reservation, the
// next encryption stores a larger one (one keyring write per
// defaultReserveChunk encryptions) before it proceeds. After a crash the
// stored reservation is therefore never below the true count, and counting
// resumes from it: at worst a chunk of the count is lost, never
// under-counted, so max_operations bounds the true number of encryptions.
// Seal stores the live counts, so a clean restart loses nothing.

// defaultReserveChunk is how many encryptions one keyring write reserves.
// It is tiny against max_operations (at least 1,000,000, by default
// 3,865,470,566) and makes the write rare enough not to matter.
const defaultReserveChunk = 1 << 16

// take counts one encryption under tk if its reservation allows, and
// returns the new count.
func (tk *termKey) take() (int64, bool) {
	for {
		n := tk.encryptions.Load()
		if n >= tk.reserved.Load() {
			return 0, false
		}
		if tk.encryptions.CompareAndSwap(n, n+1) {
			return n + 1, true
		}
	}
}

// reserve stores a larger reservation for tk, the active key when the
// caller looked. It does nothing if another caller reserved meanwhile or
// the key is no longer active (the caller then tries again).
func (b *Barrier) reserve(ctx context.Context, tk *termKey) error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.RLock()
	kr, kek := b.keyring, b.kek
	b.mu.RUnlock()
	if kr == nil {
		return sealedErr()
	}
	if kr.active != tk || tk.encryptions.Load() < tk.reserved.Load() {
		return nil
	}
	next := tk.reserved.Load() + b.reserveChunk
	s := kr.stored()
	for i := range s.Keys {
		if s.Keys[i].Term == tk.term {
			s.Keys[i].Encryptions = next
		}
	}
	ct, err := s.encrypt(kek)
	if err != nil {
		return err
	}
	if err := b.p.Put(ctx, &physical.Entry{Key: keyringPath, Value: ct}); err != nil {
		return fmt.Errorf("store encryption count: %w", err)
	}
	// Only now, with the reservation durable, may encryptions use it.
	tk.reserved.Store(next)
	return nil
}

// storeLiveCounts replaces the stored reservations with the live counts, so
// that a clean seal loses none of the count. The caller holds stateMu and
// mu for writing, so nothing is counted meanwhile. It is best effort: if
// the write fails, the stored reservations still bound the counts.
func (b *Barrier) storeLiveCounts(ctx context.Context) {
	kr := b.keyring
	s := kr.stored()
	changed := false
	for i := range s.Keys {
		if live := kr.terms[s.Keys[i].Term].encryptions.Load(); live < s.Keys[i].Encryptions {
			s.Keys[i].Encryptions = live
			changed = true
		}
	}
	if !changed {
		return
	}
	ct, err := s.encrypt(b.kek)
	if err != nil {
		return
	}
	_ = b.p.Put(ctx, &physical.Entry{Key: keyringPath, Value: ct})
}
