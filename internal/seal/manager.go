package seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/physical"
)

// Status is the seal status as sys/seal-status reports it. T and N are the
// threshold and share count; Progress counts shares received towards T in
// the current attempt, and Nonce identifies that attempt (empty when no
// share is pending).
type Status struct {
	Type        string `json:"type"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	T           int    `json:"t"`
	N           int    `json:"n"`
	Progress    int    `json:"progress"`
	Nonce       string `json:"nonce"`
}

// Manager initialises the barrier and unseals it, from Shamir shares given
// one at a time or from a static key. It is safe for concurrent use; unseal
// progress is per process, as in Vault.
type Manager struct {
	p physical.Backend
	b *barrier.Barrier

	// mu guards the fields below and serialises every operation: Init,
	// Unseal, rekey and root generation.
	mu       sync.Mutex
	progress progress
	// rekey and rootGen are the operations in progress while unsealed, nil
	// when none; both live only in memory and end with a seal.
	rekey   *rekeyState
	rootGen *rootGenState
}

// NewManager returns a Manager for barrier b over physical storage p, the
// same storage b writes to (the seal configuration sits beside the keyring).
func NewManager(p physical.Backend, b *barrier.Barrier) *Manager {
	return &Manager{p: p, b: b}
}

// Initialized reports whether the barrier has a keyring.
func (m *Manager) Initialized(ctx context.Context) (bool, error) {
	return m.b.Initialized(ctx)
}

// Init generates a random unseal key, initialises the barrier with it and
// returns the key split into shares, threshold of which unseal. With one
// share of one the share is the key itself. The barrier stays sealed: the
// caller unseals with the shares. The shares are returned only here; Coffer
// keeps no copy. Errors: ErrParts for a bad shares/threshold pair,
// ErrAlreadyInitialized.
func (m *Manager) Init(ctx context.Context, shares, threshold int) ([][]byte, error) {
	// "Already initialised" is the more useful answer than a complaint
	// about parameters that could never be used anyway.
	if ok, err := m.b.Initialized(ctx); err != nil {
		return nil, err
	} else if ok {
		return nil, ErrAlreadyInitialized
	}
	if !validParts(shares, threshold) {
		return nil, ErrParts
	}
	key, out, err := newSplitKey(shares, threshold)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	cfg := Config{Type: TypeShamir, SecretShares: shares, SecretThreshold: threshold}
	if err := m.initialize(ctx, cfg, key); err != nil {
		for _, s := range out {
			clear(s)
		}
		return nil, err
	}
	return out, nil
}

// newSplitKey generates a random unseal key and splits it into shares,
// threshold of which rebuild it.
func newSplitKey(shares, threshold int) ([]byte, [][]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, fmt.Errorf("generate unseal key: %w", err)
	}
	out, err := Split(key, shares, threshold)
	if err != nil {
		clear(key)
		return nil, nil, err
	}
	return key, out, nil
}

// InitWithKey initialises the barrier for the static seal: key, 32 bytes
// read from the key file named in the server configuration, is the unseal
// key itself. No shares exist. The barrier stays sealed; call AutoUnseal.
// Errors: ErrStaticKeyLength, ErrAlreadyInitialized.
func (m *Manager) InitWithKey(ctx context.Context, key []byte) error {
	if len(key) != KeySize {
		return ErrStaticKeyLength
	}
	return m.initialize(ctx, Config{Type: TypeStatic, SecretShares: 1, SecretThreshold: 1}, key)
}

// initialize stores cfg, then the keyring. In that order a crash in between
// leaves the server uninitialised (no keyring) and Init can simply run
// again, overwriting cfg.
func (m *Manager) initialize(ctx context.Context, cfg Config, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, err := m.b.Initialized(ctx)
	if err != nil {
		return err
	}
	if ok {
		return ErrAlreadyInitialized
	}
	if err := writeConfig(ctx, m.p, cfg); err != nil {
		return err
	}
	if err := m.b.Initialize(ctx, key); err != nil {
		if errors.Is(err, barrier.ErrAlreadyInitialized) {
			return ErrAlreadyInitialized
		}
		return fmt.Errorf("initialize barrier: %w", err)
	}
	return nil
}

// AutoUnseal unseals a static-seal server with its key. It returns nil when
// already unsealed, ErrNotInitialized, ErrWrongSealType when the server was
// initialised with Shamir shares, and ErrInvalidKey for the wrong key.
func (m *Manager) AutoUnseal(ctx context.Context, key []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.b.Sealed() {
		return nil
	}
	cfg, err := m.config(ctx)
	if err != nil {
		return err
	}
	if cfg.Type != TypeStatic {
		return ErrWrongSealType
	}
	return m.unsealBarrier(ctx, key)
}

// Status reports the seal status. Before initialisation the type is
// reported as shamir, the default seal.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status(ctx)
}

func (m *Manager) status(ctx context.Context) (Status, error) {
	st := Status{Type: TypeShamir, Sealed: m.b.Sealed(), Progress: len(m.progress.shares), Nonce: m.progress.nonce}
	ok, err := m.b.Initialized(ctx)
	if err != nil || !ok {
		return st, err
	}
	cfg, err := m.config(ctx)
	if err != nil {
		return st, err
	}
	st.Initialized = true
	st.Type, st.T, st.N = cfg.Type, cfg.SecretThreshold, cfg.SecretShares
	return st, nil
}

// config reads the stored configuration of an initialised server.
func (m *Manager) config(ctx context.Context) (*Config, error) {
	cfg, err := readConfig(ctx, m.p)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		return cfg, nil
	}
	ok, err := m.b.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotInitialized
	}
	return nil, ErrNoSealConfig
}
