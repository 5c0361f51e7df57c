package agent

import (
	"math/rand/v2"
	"time"
)

// backoff grows a wait from min, doubling per failure up to max, and
// jitters each wait to between 3/4 and all of it so that many agents that
// failed together do not retry together. Not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	failures int
}

// next records a failure and returns how long to wait before trying again.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.failures++
	quarter := int64(d / 4)
	if quarter <= 0 {
		return d
	}
	return d - time.Duration(rand.Int64N(quarter+1))
}

// reset forgets the failures after a success.
func (b *backoff) reset() { b.failures = 0 }
