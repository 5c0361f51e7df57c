package barrier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
)

// The limits of automatic rotation, as Vault sets them. AES-GCM with
// random 96-bit nonces should seal at most 2^32 values under one key;
// MaxRotationOperations stays 10% below that, leaving room for counts lost
// in a crash.
const (
	MaxRotationOperations int64 = 3_865_470_566
	MinRotationOperations int64 = 1_000_000
	MinRotationInterval         = 24 * time.Hour
)

// autoRotateCheck is how often RunAutoRotate looks at the interval; the
// operation count wakes it at once.
const autoRotateCheck = time.Minute

// RotationConfig says when the barrier rotates its key on its own: when
// the active key has sealed MaxOperations values, or is Interval old
// (0: never by age). Disabled turns automatic rotation off. It is stored in
// the keyring, so it survives restarts and rekeys.
type RotationConfig struct {
	MaxOperations int64
	Interval      time.Duration
	Disabled      bool
}

// DefaultRotationConfig is the configuration of a new keyring: enabled,
// by count only, at MaxRotationOperations.
func DefaultRotationConfig() RotationConfig {
	return RotationConfig{MaxOperations: MaxRotationOperations}
}

// Validate refuses settings outside Vault's limits, with Vault's messages,
// as errors wrapping logical.ErrInvalidRequest.
func (c RotationConfig) Validate() error {
	if c.Interval != 0 && c.Interval < MinRotationInterval {
		return logical.InvalidRequest("interval must be greater or equal to %s", MinRotationInterval)
	}
	if c.MaxOperations < MinRotationOperations || c.MaxOperations > MaxRotationOperations {
		return logical.InvalidRequest("max_operations must be in the range [%d,%d]", MinRotationOperations, MaxRotationOperations)
	}
	return nil
}

type storedRotation struct {
	MaxOperations int64         `json:"max_operations"`
	Interval      time.Duration `json:"interval"`
	Disabled      bool          `json:"disabled"`
}

func (c RotationConfig) stored() *storedRotation {
	return &storedRotation{MaxOperations: c.MaxOperations, Interval: c.Interval, Disabled: c.Disabled}
}

// config returns the stored configuration, or the default for a keyring
// written before it existed. A count out of range is clamped, so a stored
// value can never switch the count limit off.
func (s *storedRotation) config() RotationConfig {
	if s == nil {
		return DefaultRotationConfig()
	}
	c := RotationConfig{MaxOperations: s.MaxOperations, Interval: max(s.Interval, 0), Disabled: s.Disabled}
	if c.MaxOperations <= 0 || c.MaxOperations > MaxRotationOperations {
		c.MaxOperations = MaxRotationOperations
	}
	return c
}

// RotationConfig returns the automatic rotation settings, or an error
// wrapping logical.ErrSealed.
func (b *Barrier) RotationConfig() (RotationConfig, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.keyring == nil {
		return RotationConfig{}, sealedErr()
	}
	return b.keyring.rotation, nil
}

// SetRotationConfig validates c and stores it in the keyring. A lower
// MaxOperations takes effect at once: RunAutoRotate is woken to check.
func (b *Barrier) SetRotationConfig(ctx context.Context, c RotationConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return b.setRotationConfig(ctx, c)
}

func (b *Barrier) setRotationConfig(ctx context.Context, c RotationConfig) error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.RLock()
	kr, kek := b.keyring, b.kek
	b.mu.RUnlock()
	if kr == nil {
		return sealedErr()
	}
	next := &keyring{active: kr.active, terms: kr.terms, rotation: c}
	ct, err := next.encrypt(kek)
	if err != nil {
		return err
	}
	if err := b.p.Put(ctx, &physical.Entry{Key: keyringPath, Value: ct}); err != nil {
		return fmt.Errorf("store rotation config: %w", err)
	}
	b.mu.Lock()
	b.keyring = next
	b.mu.Unlock()
	b.wakeRotator()
	return nil
}

// wakeRotator asks RunAutoRotate to check now, without blocking.
func (b *Barrier) wakeRotator() {
	select {
	case b.rotateDue <- struct{}{}:
	default:
	}
}

// RotateIfDue rotates the key when the rotation configuration says it is
// due, and returns the new term and why ("" and 0 when not due). It
// returns an error wrapping logical.ErrSealed when sealed.
func (b *Barrier) RotateIfDue(ctx context.Context) (term uint32, reason string, err error) {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.RLock()
	kr := b.keyring
	b.mu.RUnlock()
	if kr == nil {
		return 0, "", sealedErr()
	}
	rc, a := kr.rotation, kr.active
	switch {
	case rc.Disabled:
		return 0, "", nil
	case a.encryptions.Load() >= rc.MaxOperations:
		reason = "reached max operations"
	case rc.Interval > 0 && !b.now().Before(a.installed.Add(rc.Interval)):
		reason = "rotation interval reached"
	default:
		return 0, "", nil
	}
	term, err = b.rotateLocked(ctx)
	return term, reason, err
}

// RunAutoRotate rotates the key whenever it is due (see RotateIfDue) until
// ctx ends: it checks at once, every minute, and whenever an encryption
// reaches max_operations. Run it only while unsealed; it never logs keys.
func (b *Barrier) RunAutoRotate(ctx context.Context, logger *slog.Logger) {
	tick := time.NewTicker(autoRotateCheck)
	defer tick.Stop()
	for {
		term, reason, err := b.RotateIfDue(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("automatic key rotation failed", "error", err.Error())
		case reason != "":
			logger.Info("rotated the barrier key automatically", "term", term, "reason", reason)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-b.rotateDue:
		}
	}
}
