package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/cofferhq/coffer/internal/physical"
)

// Summary describes a verified destination.
type Summary struct {
	// Keys is how many keys each side holds.
	Keys int
	// Checksum is SHA-256 over every (key, value) in key order, each
	// length-prefixed; zero unless values were compared.
	Checksum [sha256.Size]byte
}

// item is one key, and the hash of its value when values are compared.
type item struct {
	key string
	sum [sha256.Size]byte
	err error
}

// Verify walks src and dst side by side and fails with ErrMismatch, naming
// the first key that differs, unless both hold the same keys; with values,
// it also reads every entry on both sides and compares the bytes. It reads
// only; neither side may be written meanwhile.
func Verify(ctx context.Context, src, dst physical.Backend, values bool) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	total := sha256.New()
	a := stream(ctx, src, values, total)
	b := stream(ctx, dst, values, nil)
	var s Summary
	for {
		x, okA := <-a
		y, okB := <-b
		switch {
		case okA && x.err != nil:
			return s, fmt.Errorf("read the source: %w", x.err)
		case okB && y.err != nil:
			return s, fmt.Errorf("read the destination: %w", y.err)
		case !okA && !okB:
			if values {
				copy(s.Checksum[:], total.Sum(nil))
			}
			return s, nil
		case !okB || (okA && x.key < y.key):
			return s, fmt.Errorf("%w: key %q is missing from the destination (after %d matching keys)", ErrMismatch, x.key, s.Keys)
		case !okA || y.key < x.key:
			return s, fmt.Errorf("%w: the destination has key %q, which the source does not (after %d matching keys)", ErrMismatch, y.key, s.Keys)
		case x.sum != y.sum:
			return s, fmt.Errorf("%w: the value of key %q differs", ErrMismatch, x.key)
		}
		s.Keys++
	}
}

// stream walks b into a channel, hashing each value when values is set
// (and feeding total, when not nil, with the length-prefixed entries).
func stream(ctx context.Context, b physical.Backend, values bool, total hash.Hash) <-chan item {
	out := make(chan item, 256)
	go func() {
		defer close(out)
		err := Walk(ctx, b, "", func(key string) error {
			it := item{key: key}
			if values {
				e, err := b.Get(ctx, key)
				if err != nil {
					return err
				}
				if e == nil {
					return fmt.Errorf("key %q vanished while verifying", key)
				}
				it.sum = sha256.Sum256(e.Value)
				if total != nil {
					writeEntry(total, key, e.Value)
				}
			}
			select {
			case out <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			select {
			case out <- item{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

func writeEntry(h hash.Hash, key string, value []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write([]byte(key))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(value)))])
	h.Write(value)
}

// Empty reports whether b holds no key at all.
func Empty(ctx context.Context, b physical.Backend) (bool, error) {
	names, err := b.List(ctx, "")
	if err != nil {
		return false, err
	}
	return len(names) == 0, nil
}

// Reset deletes every key of b, in batches (transactions where b is
// transactional), and returns how many it deleted.
func Reset(ctx context.Context, b physical.Backend) (int, error) {
	var keys []string
	if err := Walk(ctx, b, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return 0, err
	}
	tx, ok := b.(physical.Transactional)
	for done := 0; done < len(keys); {
		n := min(DefaultBatchSize, len(keys)-done)
		var err error
		if ok {
			ops := make([]physical.TxnOp, n)
			for i, k := range keys[done : done+n] {
				ops[i] = physical.TxnOp{Delete: true, Entry: &physical.Entry{Key: k}}
			}
			err = tx.Transaction(ctx, ops)
		} else {
			for _, k := range keys[done : done+n] {
				if err = b.Delete(ctx, k); err != nil {
					break
				}
			}
		}
		if err != nil {
			return done, fmt.Errorf("delete from the destination: %w", err)
		}
		done += n
	}
	return len(keys), nil
}
