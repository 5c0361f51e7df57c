package seal

import (
	"context"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/barrier"
)

// Unseal adds one share to the current unseal attempt. Once threshold
// distinct shares are in, it combines them and unseals the barrier. A share
// already given in this attempt is ignored. It returns the status after the
// share is counted.
//
// Errors: ErrNotInitialized; ErrWrongSealType on a static-seal server;
// ErrInvalidShare for a share of the wrong length (not counted, progress
// kept); ErrInvalidKey when the combined key does not unseal (progress
// reset). When already unsealed the share is ignored and the status
// returned. Shares are wiped once combined or reset; the caller may wipe
// its copy as soon as Unseal returns.
func (m *Manager) Unseal(ctx context.Context, share []byte) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.addShare(ctx, share); err != nil {
		st, serr := m.status(ctx)
		if serr != nil {
			return st, errors.Join(err, serr)
		}
		return st, err
	}
	return m.status(ctx)
}

// addShare counts share and unseals once the threshold is reached.
func (m *Manager) addShare(ctx context.Context, share []byte) error {
	ok, err := m.b.Initialized(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotInitialized
	}
	if !m.b.Sealed() {
		return nil
	}
	cfg, err := m.config(ctx)
	if err != nil {
		return err
	}
	if cfg.Type != TypeShamir {
		return ErrWrongSealType
	}
	key, err := m.progress.add(cfg, share)
	if err != nil || key == nil {
		return err
	}
	defer clear(key)
	return m.unsealBarrier(ctx, key)
}

// unsealBarrier unseals with key, turning a wrong key into ErrInvalidKey.
func (m *Manager) unsealBarrier(ctx context.Context, key []byte) error {
	err := m.b.Unseal(ctx, key)
	if errors.Is(err, barrier.ErrBadKey) {
		return ErrInvalidKey
	}
	if err != nil {
		return fmt.Errorf("unseal barrier: %w", err)
	}
	return nil
}

// ResetUnseal discards the shares of the current attempt, wiping them.
func (m *Manager) ResetUnseal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

// Seal seals the barrier, dropping every key from memory, and discards any
// unseal progress and any rekey or root generation in progress (with the
// new key of a rekey awaiting verification: the old shares stay valid).
// Sealing a sealed server is not an error.
func (m *Manager) Seal(_ context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
	m.endRekey()
	m.endRootGen()
	m.b.Seal()
	return nil
}

func (m *Manager) reset() { m.progress.reset() }

// shareLen is the length of one share when threshold shares unseal: the
// 1-of-1 share is the key itself, other shares carry an index byte.
func shareLen(threshold int) int {
	if threshold == 1 {
		return KeySize
	}
	return KeySize + 1
}

// wipeAll clears every share in shares.
func wipeAll(shares [][]byte) {
	for _, s := range shares {
		clear(s)
	}
}
