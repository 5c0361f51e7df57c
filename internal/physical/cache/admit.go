package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// doorBits sizes the admission filter: 128 KiB of bits.
const doorBits = 1 << 20

// doorWindow is how many first misses the filter remembers, as a multiple
// of the cache's size, before it forgets them all and starts over.
const doorWindow = 4

// doorkeeper decides which values read from storage go into the cache: a
// key is admitted at its second miss within a window, not its first (the
// "doorkeeper" of TinyLFU). Reads spread over more keys than the cache
// holds (a million secrets read at random) then stop evicting entries for
// values that will not be read again before they are evicted themselves,
// and a secret read again soon is cached at its second read. Writes fill
// the cache as before; the filter only ever withholds a fill, so it cannot
// make the cache serve anything it would not have served.
//
// A bit per hash of the key, set atomically: a false positive admits a
// key early, which is what the cache did for every key before.
type doorkeeper struct {
	seed   maphash.Seed
	window int64
	marks  atomic.Int64
	words  [doorBits / 64]atomic.Uint64
}

func newDoorkeeper(size int) *doorkeeper {
	return &doorkeeper{seed: maphash.MakeSeed(), window: int64(size) * doorWindow}
}

// admit reports whether key missed recently before; if not, it marks it.
func (d *doorkeeper) admit(key string) bool {
	h := maphash.String(d.seed, key)
	w, bit := &d.words[(h/64)%uint64(len(d.words))], uint64(1)<<(h%64)
	if w.Load()&bit != 0 || w.Or(bit)&bit != 0 {
		return true
	}
	if d.marks.Add(1) == d.window {
		for i := range d.words {
			d.words[i].Store(0)
		}
		d.marks.Store(0)
	}
	return false
}
