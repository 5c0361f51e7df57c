// Package barrier is the encryption layer between the logical storage every
// engine sees and the physical bytes beneath: each value is sealed with
// AES-256-GCM under the active key of a keyring, with the storage path as
// additional data so a value cannot be moved to another path unnoticed.
//
// The keyring itself is stored at core/keyring, encrypted under the unseal
// key. Sealed means no key in memory: while sealed the barrier holds neither
// the unseal key nor any keyring key, and every storage operation fails with
// logical.ErrSealed. Unsealing decrypts the keyring; while unsealed the
// barrier also keeps the unseal key, because Rotate must re-encrypt the
// keyring under it. Seal wipes both.
//
// The barrier does not decide how the unseal key is obtained (Shamir shares,
// a key file, another server's transit engine): that is the seal package's
// job. It never logs keys or values.
package barrier

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
)

// Barrier encrypts and authenticates everything it stores in a physical
// backend. It is safe for concurrent use. The zero value is not usable; call
// New.
type Barrier struct {
	p physical.Backend

	// stateMu serialises the operations that change the keyring or the seal
	// state (Initialize, Unseal, Seal, Rotate), so that building and
	// persisting a new keyring does not block readers and writers.
	stateMu sync.Mutex

	mu      sync.RWMutex // guards keyring and kek
	keyring *keyring     // nil when sealed
	kek     []byte       // the unseal key; nil when sealed

	now func() time.Time
	// reserveChunk is how many encryptions one stored reservation covers
	// (counts.go); rotateDue wakes RunAutoRotate.
	reserveChunk int64
	rotateDue    chan struct{}
	// observer hears of every storage operation (SetObserver); nil when
	// none.
	observer func(op string, took time.Duration)
	// standby is set while another server writes the storage (standby.go).
	standby atomic.Bool
}

// SetObserver makes f hear of every Get, Put, Delete, List and
// Transaction, with the operation's name and how long it took, once it
// ends; for metrics. Call it before the barrier is shared: it is not
// synchronised with operations.
func (b *Barrier) SetObserver(f func(op string, took time.Duration)) { b.observer = f }

// observe tells the observer that op, begun at start (a reading of
// monotonic), has ended.
func (b *Barrier) observe(op string, start time.Duration) { b.observer(op, monotonic()-start) }

// clockBase anchors monotonic: time.Since of a Time that carries a
// monotonic reading reads only that clock, where time.Now reads the wall
// clock too. Timing every storage operation twice per read (here and in
// the storage metrics) made the clock a visible share of a read.
var clockBase = time.Now()

// monotonic is the time since clockBase, from the monotonic clock alone.
func monotonic() time.Duration { return time.Since(clockBase) }

var (
	_ logical.Storage       = (*Barrier)(nil)
	_ logical.Transactional = (*Barrier)(nil)
	_ logical.Exister       = (*Barrier)(nil)
	_ logical.ReadBeginner  = (*Barrier)(nil)
)

// New returns a sealed barrier over p. It does not touch storage.
func New(p physical.Backend) *Barrier {
	return &Barrier{p: p, now: time.Now, reserveChunk: defaultReserveChunk, rotateDue: make(chan struct{}, 1)}
}

// Initialized reports whether a keyring is stored and no initialisation
// was interrupted (InitPendingPath).
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	e, err := b.p.Get(ctx, keyringPath)
	if err != nil {
		return false, fmt.Errorf("read keyring: %w", err)
	}
	if e == nil {
		return false, nil
	}
	m, err := b.p.Get(ctx, InitPendingPath)
	if err != nil {
		return false, fmt.Errorf("read init marker: %w", err)
	}
	return m == nil, nil
}

// Initialize creates a keyring holding one random key at term 1 and stores
// it encrypted under unsealKey, which must be 32 bytes. The barrier stays
// sealed; unsealKey is not retained. It fails with ErrAlreadyInitialized if
// a keyring exists.
func (b *Barrier) Initialize(ctx context.Context, unsealKey []byte) error {
	if len(unsealKey) != keySize {
		return ErrKeyLength
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	ok, err := b.Initialized(ctx)
	if err != nil {
		return err
	}
	if ok {
		return ErrAlreadyInitialized
	}
	kr, err := firstKeyring(b.now())
	if err != nil {
		return err
	}
	defer kr.wipe()
	ct, err := kr.encrypt(unsealKey)
	if err != nil {
		return err
	}
	if err := b.p.Put(ctx, &physical.Entry{Key: keyringPath, Value: ct}); err != nil {
		return fmt.Errorf("store keyring: %w", err)
	}
	return nil
}

// Unseal decrypts the stored keyring with unsealKey and starts serving
// storage operations. It returns nil when already unsealed, ErrBadKey when
// the key does not open the keyring (and keeps nothing), and an error
// wrapping logical.ErrNotInitialized when there is no keyring. The barrier
// keeps its own copy of unsealKey until Seal; the caller may wipe its copy.
func (b *Barrier) Unseal(ctx context.Context, unsealKey []byte) error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if !b.Sealed() {
		return nil
	}
	e, err := b.p.Get(ctx, keyringPath)
	if err != nil {
		return fmt.Errorf("read keyring: %w", err)
	}
	if e == nil {
		return fmt.Errorf("unseal: %w", logical.ErrNotInitialized)
	}
	kr, err := decryptKeyring(unsealKey, e.Value)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.keyring = kr
	b.kek = append([]byte(nil), unsealKey...)
	b.mu.Unlock()
	return nil
}

// Seal stores the keys' encryption counts (best effort: the stored
// reservations already bound them), then wipes every key the barrier holds
// (keyring keys and the unseal key) and drops them, so nothing can be
// decrypted until the next Unseal. Operations in flight that already hold a
// key may finish. Sealing a sealed barrier does nothing.
func (b *Barrier) Seal() {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keyring != nil {
		if !b.standby.Load() {
			b.storeLiveCounts(context.Background())
		}
		b.keyring.wipe()
		b.keyring = nil
	}
	wipe(b.kek)
	b.kek = nil
}

// Sealed reports whether the barrier holds no keys.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.keyring == nil
}

// Rotate adds a key one term above the active one, stores the keyring, and
// makes the new key active for every later write. Values written under
// older terms still decrypt. It returns the new term, or an error wrapping
// logical.ErrSealed.
func (b *Barrier) Rotate(ctx context.Context) (uint32, error) {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	return b.rotateLocked(ctx)
}

// rotateLocked is Rotate with stateMu held.
func (b *Barrier) rotateLocked(ctx context.Context) (uint32, error) {
	b.mu.RLock()
	kr, kek := b.keyring, b.kek
	b.mu.RUnlock()
	if kr == nil {
		return 0, sealedErr()
	}
	next, err := kr.rotated(b.now())
	if err != nil {
		return 0, fmt.Errorf("rotate: %w", err)
	}
	ct, err := next.encrypt(kek)
	if err != nil {
		return 0, err
	}
	// Persist before use: a value written under a term the stored keyring
	// lacks would be unreadable after a restart.
	if err := b.p.Put(ctx, &physical.Entry{Key: keyringPath, Value: ct}); err != nil {
		wipe(next.active.key)
		return 0, fmt.Errorf("store rotated keyring: %w", err)
	}
	b.mu.Lock()
	b.keyring = next
	b.mu.Unlock()
	return next.active.term, nil
}

// KeyStatus reports the active term, when its key was installed, and how
// many values it has encrypted over its life. The count survives restarts;
// after a crash it resumes from the last stored reservation, so it may be
// higher than the truth but never lower. It returns an error wrapping
// logical.ErrSealed when sealed.
func (b *Barrier) KeyStatus() (term uint32, installTime time.Time, encryptions int64, err error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.keyring == nil {
		return 0, time.Time{}, 0, sealedErr()
	}
	a := b.keyring.active
	return a.term, a.installed, a.encryptions.Load(), nil
}

func sealedErr() error { return fmt.Errorf("barrier: %w", logical.ErrSealed) }
