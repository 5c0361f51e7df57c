package logical

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// StorageEntry is one key and its value as an engine sees it. Values handed
// to an engine are already decrypted; engines never see ciphertext.
type StorageEntry struct {
	Key   string
	Value []byte
}

// Storage is the only persistence an engine or auth method gets: a view
// chrooted into the engine's own prefix, encrypted by the barrier beneath it.
//
// Get returns (nil, nil) when the key does not exist, and otherwise a new
// entry the caller owns: it may keep or change the entry and its value
// (a View relabels the entry's key rather than copying it). List returns the names
// directly under prefix, in lexical order, with sub-folders suffixed by "/";
// it returns an empty slice, not an error, when nothing is there.
// Implementations are safe for concurrent use.
type Storage interface {
	Get(ctx context.Context, key string) (*StorageEntry, error)
	Put(ctx context.Context, entry *StorageEntry) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// TxnOp is one write inside a Transaction: a Put when Entry is set with
// Delete false, a Delete of Entry.Key when Delete is true.
type TxnOp struct {
	Delete bool
	Entry  *StorageEntry
}

// Transactional is implemented by storage that can apply several writes
// atomically: either every op is applied or none is. Callers discover it by
// type assertion and fall back to ordered single writes when it is absent.
type Transactional interface {
	Transaction(ctx context.Context, ops []TxnOp) error
}

// Exister is implemented by storage that can tell whether a key exists
// more cheaply than by reading it: the barrier answers from the stored
// ciphertext without decrypting it. A key whose value could not be read
// (corrupt, say) may still be reported as existing; the read that follows
// then fails.
type Exister interface {
	Exists(ctx context.Context, key string) (bool, error)
}

// Exists reports whether key exists in s, through Exister when s has it
// and by a Get otherwise.
func Exists(ctx context.Context, s Storage, key string) (bool, error) {
	if ex, ok := s.(Exister); ok {
		return ex.Exists(ctx, key)
	}
	e, err := s.Get(ctx, key)
	return e != nil, err
}

// ReadTx is one read of several keys, such as a KV read's metadata and
// then the version it names, begun by BeginRead: storage that can serves
// them from one storage transaction rather than one per key. Every Get
// sees at least every write completed before BeginRead returned. Not safe
// for concurrent use; Done must be called once the reads are over.
type ReadTx interface {
	// Get returns key's value, which the caller owns; found is false
	// when there is none.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Done ends the read.
	Done()
}

// ReadBeginner is implemented by storage that serves a ReadTx.
type ReadBeginner interface {
	BeginRead(ctx context.Context) (ReadTx, error)
}

// BeginRead begins a read of several keys of s, through s's ReadBeginner
// when it has one; otherwise each Get is a Get of s.
func BeginRead(ctx context.Context, s Storage) (ReadTx, error) {
	if rb, ok := s.(ReadBeginner); ok {
		return rb.BeginRead(ctx)
	}
	return &keyReads{s: s}, nil
}

// keyReads is the ReadTx of storage without one: a Get per key.
type keyReads struct{ s Storage }

func (r *keyReads) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, err := r.s.Get(ctx, key)
	if err != nil || e == nil {
		return nil, false, err
	}
	return e.Value, true, nil
}

func (r *keyReads) Done() {}

// ApplyTxn applies ops atomically when s supports transactions, and in order
// otherwise.
func ApplyTxn(ctx context.Context, s Storage, ops []TxnOp) error {
	if t, ok := s.(Transactional); ok {
		return t.Transaction(ctx, ops)
	}
	for _, op := range ops {
		var err error
		if op.Delete {
			err = s.Delete(ctx, op.Entry.Key)
		} else {
			err = s.Put(ctx, op.Entry)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// GetJSON reads key and decodes its JSON value into out. It reports false,
// with a nil error, when the key does not exist.
func GetJSON(ctx context.Context, s Storage, key string, out any) (bool, error) {
	e, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %q: %w", key, err)
	}
	if e == nil {
		return false, nil
	}
	if err := json.Unmarshal(e.Value, out); err != nil {
		return false, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

// JSONEntry encodes v as the value of a StorageEntry at key.
func JSONEntry(key string, v any) (*StorageEntry, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %q: %w", key, err)
	}
	return &StorageEntry{Key: key, Value: b}, nil
}

// PutJSON encodes v as JSON and stores it at key.
func PutJSON(ctx context.Context, s Storage, key string, v any) error {
	e, err := JSONEntry(key, v)
	if err != nil {
		return err
	}
	return s.Put(ctx, e)
}

// Lister is what CollectKeys needs: a Storage, or a physical.Backend.
type Lister interface {
	List(ctx context.Context, prefix string) ([]string, error)
}

// CollectKeys lists every key under prefix recursively, depth first, and
// returns them relative to the storage root. Intended for deleting a subtree.
func CollectKeys(ctx context.Context, s Lister, prefix string) ([]string, error) {
	names, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			sub, err := CollectKeys(ctx, s, prefix+n)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, prefix+n)
	}
	return out, nil
}

// ClearPrefix deletes every key under prefix.
func ClearPrefix(ctx context.Context, s Storage, prefix string) error {
	keys, err := CollectKeys(ctx, s, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// View confines a Storage to keys under a prefix. It is how the router gives
// each mount its own chroot; keys passed in are relative to the prefix.
type View struct {
	prefix string
	s      Storage
}

// NewView returns a view of s rooted at prefix, which should end in "/".
func NewView(s Storage, prefix string) *View { return &View{prefix: prefix, s: s} }

// SubView returns a view rooted at a further prefix inside this one.
func (v *View) SubView(prefix string) *View { return &View{prefix: v.prefix + prefix, s: v.s} }

// Prefix reports the absolute prefix of this view.
func (v *View) Prefix() string { return v.prefix }

func (v *View) Get(ctx context.Context, key string) (*StorageEntry, error) {
	e, err := v.s.Get(ctx, v.prefix+key)
	if err != nil || e == nil {
		return nil, err
	}
	// The entry is ours (see Storage): relabel it rather than copy it.
	e.Key = key
	return e, nil
}

// Exists implements Exister, as cheaply as the storage beneath allows.
func (v *View) Exists(ctx context.Context, key string) (bool, error) {
	return Exists(ctx, v.s, v.prefix+key)
}

// BeginRead implements ReadBeginner, through the storage beneath.
func (v *View) BeginRead(ctx context.Context) (ReadTx, error) {
	r, err := BeginRead(ctx, v.s)
	if err != nil {
		return nil, err
	}
	return &viewRead{prefix: v.prefix, r: r}, nil
}

type viewRead struct {
	prefix string
	r      ReadTx
}

func (r *viewRead) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return r.r.Get(ctx, r.prefix+key)
}

func (r *viewRead) Done() { r.r.Done() }

func (v *View) Put(ctx context.Context, e *StorageEntry) error {
	return v.s.Put(ctx, &StorageEntry{Key: v.prefix + e.Key, Value: e.Value})
}

func (v *View) Delete(ctx context.Context, key string) error { return v.s.Delete(ctx, v.prefix+key) }

func (v *View) List(ctx context.Context, prefix string) ([]string, error) {
	return v.s.List(ctx, v.prefix+prefix)
}

// Transaction applies ops atomically when the underlying storage can.
func (v *View) Transaction(ctx context.Context, ops []TxnOp) error {
	abs := make([]TxnOp, len(ops))
	for i, op := range ops {
		abs[i] = TxnOp{Delete: op.Delete, Entry: &StorageEntry{Key: v.prefix + op.Entry.Key, Value: op.Entry.Value}}
	}
	return ApplyTxn(ctx, v.s, abs)
}

var (
	_ Storage       = (*View)(nil)
	_ Transactional = (*View)(nil)
	_ Exister       = (*View)(nil)
	_ ReadBeginner  = (*View)(nil)
)
