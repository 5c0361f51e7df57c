package barrier

import (
	"context"
	"time"
)

// Test hooks: small reservations and limits below Vault's minimums, and a
// clock, so the tests need neither millions of writes nor waiting.

func SetReserveChunk(b *Barrier, n int64) { b.reserveChunk = n }

func SetClock(b *Barrier, now func() time.Time) { b.now = now }

func SetRotationConfigUnchecked(ctx context.Context, b *Barrier, c RotationConfig) error {
	return b.setRotationConfig(ctx, c)
}
