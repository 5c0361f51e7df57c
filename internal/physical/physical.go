// Package physical defines the narrow interface to durable bytes beneath the
// barrier, with implementations in sub-packages (inmem, bolt; raft and
// postgres later).
//
// Everything a physical backend stores is untrusted by contract: the barrier
// above it encrypts and authenticates every value, so a backend never sees a
// plaintext secret and need not protect confidentiality itself. It is not the
// place for caching, encryption or key layout decisions.
package physical

import "context"

// Entry is one key and its opaque value.
type Entry struct {
	Key   string
	Value []byte
}

// Backend stores opaque values by key.
//
// Get returns (nil, nil) when the key does not exist. List returns the names
// directly under prefix in lexical order, with sub-folders suffixed by "/",
// and an empty slice when there are none. Put must be durable when it
// returns, for backends that claim durability. Implementations are safe for
// concurrent use.
type Backend interface {
	Get(ctx context.Context, key string) (*Entry, error)
	Put(ctx context.Context, entry *Entry) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// TxnOp is one write inside a Transaction: a Put of Entry, or a Delete of
// Entry.Key when Delete is true.
type TxnOp struct {
	Delete bool
	Entry  *Entry
}

// Transactional is implemented by backends that apply several writes
// atomically: all of them or none.
type Transactional interface {
	Transaction(ctx context.Context, ops []TxnOp) error
}

// SharedGetter is implemented by backends that can hand out a stored value
// without copying it (a cache). GetShared is Get except that the entry's
// Value may be shared with other readers: the caller must not change it.
// The barrier, which only reads ciphertext to decrypt it into a new slice,
// reads through it.
type SharedGetter interface {
	GetShared(ctx context.Context, key string) (*Entry, error)
}

// GetShared reads key through b's SharedGetter when it has one and through
// Get otherwise. The value returned must not be changed.
func GetShared(ctx context.Context, b Backend, key string) (*Entry, error) {
	if sg, ok := b.(SharedGetter); ok {
		return sg.GetShared(ctx, key)
	}
	return b.Get(ctx, key)
}

// Closer is implemented by backends holding files or connections.
type Closer interface {
	Close() error
}

// ReadTx is one read of several keys, such as a KV read's metadata and
// then the version it names, begun by BeginRead: a backend that can serves
// them from one read transaction (bbolt), which costs one transaction
// instead of one per key. Every Get sees at least every write acknowledged
// before BeginRead returned (it may see later ones). Not safe for
// concurrent use; Done must be called once the reads are over.
type ReadTx interface {
	// Get returns key's value; found is false when there is none. The
	// value may be shared with other readers and is never changed, by the
	// backend or anyone else: the caller must not change it, and may
	// keep it (after Done too), as a cache above does.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Done ends the read and releases what it holds.
	Done()
}

// ReadBeginner is implemented by backends that serve a ReadTx.
type ReadBeginner interface {
	BeginRead(ctx context.Context) (ReadTx, error)
}

// BeginRead begins a read of several keys of b, through b's ReadBeginner
// when it has one; otherwise each Get is a GetShared of b.
func BeginRead(ctx context.Context, b Backend) (ReadTx, error) {
	if rb, ok := b.(ReadBeginner); ok {
		return rb.BeginRead(ctx)
	}
	return &keyReads{b: b}, nil
}

// keyReads is the ReadTx of a backend without one: a GetShared per key.
type keyReads struct{ b Backend }

func (r *keyReads) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, err := GetShared(ctx, r.b, key)
	if err != nil || e == nil {
		return nil, false, err
	}
	return e.Value, true, nil
}

func (r *keyReads) Done() {}
