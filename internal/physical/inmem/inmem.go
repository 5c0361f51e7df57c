// Package inmem is a physical.Backend held in a Go map, for tests and for
// `coffer server -dev`, where nothing must outlive the process.
//
// It is not durable and not meant for production data: everything is lost
// when the process exits. Values are copied in and out, so callers may reuse
// their buffers.
package inmem

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/physical"
)

// Backend stores entries in memory. The zero value is not usable; call New.
// It is safe for concurrent use.
type Backend struct {
	mu sync.RWMutex
	m  map[string][]byte
}

var (
	_ physical.Backend       = (*Backend)(nil)
	_ physical.Transactional = (*Backend)(nil)
)

// New returns an empty in-memory backend.
func New() *Backend { return &Backend{m: map[string][]byte{}} }

// Get returns a copy of the value at key, or (nil, nil) when there is none.
func (b *Backend) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.m[key]
	if !ok {
		return nil, nil
	}
	return &physical.Entry{Key: key, Value: clone(v)}, nil
}

// Put stores a copy of entry's value, replacing any previous value.
func (b *Backend) Put(ctx context.Context, entry *physical.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[entry.Key] = clone(entry.Value)
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
	return nil
}

// List returns the names directly under prefix in lexical order, sub-folders
// suffixed by "/", and an empty (non-nil) slice when there are none.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	seen := map[string]struct{}{}
	for k := range b.m {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = struct{}{}
	}
	b.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Transaction applies every op under one lock, so readers see either none or
// all of them. It cannot fail part-way: ops are checked before any is applied.
func (b *Backend) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, op := range ops {
		if op.Entry == nil {
			return fmtNilEntry(i)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(b.m, op.Entry.Key)
			continue
		}
		b.m[op.Entry.Key] = clone(op.Entry.Value)
	}
	return nil
}

// clone copies v and keeps a non-nil empty value distinct from a missing one.
func clone(v []byte) []byte { return append([]byte{}, v...) }
