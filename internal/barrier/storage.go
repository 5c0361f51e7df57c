package barrier

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
)

// Get returns the decrypted value at key, or (nil, nil) when there is none.
// A value that fails authentication (altered, or moved from another path)
// is an error wrapping ErrCorrupt.
func (b *Barrier) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if b.observer != nil {
		defer b.observe("get", monotonic())
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if b.Sealed() {
		return nil, sealedErr()
	}
	// Decryption only reads the ciphertext, so a cache beneath may hand
	// it out without copying it.
	e, err := physical.GetShared(ctx, b.p, key)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	if e == nil {
		return nil, nil
	}
	pt, err := b.decrypt(key, e.Value)
	if err != nil {
		return nil, err
	}
	return &logical.StorageEntry{Key: key, Value: pt}, nil
}

// BeginRead implements logical.ReadBeginner: the keys are read through
// one physical.ReadTx (one storage transaction when the backend has them)
// and each is decrypted as Get does.
func (b *Barrier) BeginRead(ctx context.Context) (logical.ReadTx, error) {
	if b.Sealed() {
		return nil, sealedErr()
	}
	r, err := physical.BeginRead(ctx, b.p)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &barrierRead{b: b, r: r}, nil
}

type barrierRead struct {
	b *Barrier
	r physical.ReadTx
}

func (r *barrierRead) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b := r.b
	if b.observer != nil {
		defer b.observe("get", monotonic())
	}
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	if b.Sealed() {
		return nil, false, sealedErr()
	}
	ct, found, err := r.r.Get(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("read %q: %w", key, err)
	}
	if !found {
		return nil, false, nil
	}
	pt, err := b.decrypt(key, ct)
	if err != nil {
		return nil, false, err
	}
	return pt, true, nil
}

func (r *barrierRead) Done() { r.r.Done() }

// Exists reports whether key holds a value, without decrypting it: for
// existence checks, which decide between the create and update
// capabilities and need nothing of the value. A value that would fail
// authentication counts as existing; reading it then fails with ErrCorrupt.
func (b *Barrier) Exists(ctx context.Context, key string) (bool, error) {
	if b.observer != nil {
		defer b.observe("get", monotonic())
	}
	if err := checkKey(key); err != nil {
		return false, err
	}
	if b.Sealed() {
		return false, sealedErr()
	}
	e, err := physical.GetShared(ctx, b.p, key)
	if err != nil {
		return false, fmt.Errorf("read %q: %w", key, err)
	}
	return e != nil, nil
}

// Put encrypts entry's value under the active key and stores it durably.
func (b *Barrier) Put(ctx context.Context, entry *logical.StorageEntry) error {
	if b.observer != nil {
		defer b.observe("put", monotonic())
	}
	pe, err := b.encrypt(ctx, entry)
	if err != nil {
		return err
	}
	if err := b.p.Put(ctx, pe); err != nil {
		return fmt.Errorf("write %q: %w", entry.Key, err)
	}
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (b *Barrier) Delete(ctx context.Context, key string) error {
	if b.observer != nil {
		defer b.observe("delete", monotonic())
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if b.Sealed() {
		return sealedErr()
	}
	if err := b.p.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// List returns the names directly under prefix, as the physical backend
// does. Key names are not encrypted, only values.
func (b *Barrier) List(ctx context.Context, prefix string) ([]string, error) {
	if b.observer != nil {
		defer b.observe("list", monotonic())
	}
	if b.Sealed() {
		return nil, sealedErr()
	}
	names, err := b.p.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	return names, nil
}

// Transaction encrypts every put and applies all ops atomically when the
// physical backend is transactional, and in order otherwise (a failure part
// way then leaves the earlier ops applied).
func (b *Barrier) Transaction(ctx context.Context, ops []logical.TxnOp) error {
	if b.observer != nil {
		defer b.observe("transaction", monotonic())
	}
	pops := make([]physical.TxnOp, len(ops))
	for i, op := range ops {
		if op.Entry == nil {
			return fmt.Errorf("transaction op %d has no entry: %w", i, logical.ErrInvalidRequest)
		}
		if op.Delete {
			if err := checkKey(op.Entry.Key); err != nil {
				return err
			}
			pops[i] = physical.TxnOp{Delete: true, Entry: &physical.Entry{Key: op.Entry.Key}}
			continue
		}
		pe, err := b.encrypt(ctx, op.Entry)
		if err != nil {
			return err
		}
		pops[i] = physical.TxnOp{Entry: pe}
	}
	if b.Sealed() {
		return sealedErr()
	}
	if t, ok := b.p.(physical.Transactional); ok {
		if err := t.Transaction(ctx, pops); err != nil {
			return fmt.Errorf("transaction: %w", err)
		}
		return nil
	}
	for _, op := range pops {
		var err error
		if op.Delete {
			err = b.p.Delete(ctx, op.Entry.Key)
		} else {
			err = b.p.Put(ctx, op.Entry)
		}
		if err != nil {
			return fmt.Errorf("transaction %q: %w", op.Entry.Key, err)
		}
	}
	return nil
}

// encrypt seals entry under the active key, counting the encryption
// within the key's stored reservation (counts.go); when that is used up it
// stores a larger one first. It wakes RunAutoRotate when the count reaches
// max_operations.
func (b *Barrier) encrypt(ctx context.Context, entry *logical.StorageEntry) (*physical.Entry, error) {
	if err := checkKey(entry.Key); err != nil {
		return nil, err
	}
	for {
		b.mu.RLock()
		kr := b.keyring
		if kr == nil {
			b.mu.RUnlock()
			return nil, sealedErr()
		}
		a := kr.active
		if n, ok := a.take(); ok {
			ct := seal(a.aead, a.term, entry.Key, entry.Value)
			b.mu.RUnlock()
			if n == kr.rotation.MaxOperations {
				b.wakeRotator()
			}
			return &physical.Entry{Key: entry.Key, Value: ct}, nil
		}
		b.mu.RUnlock()
		if err := b.reserve(ctx, a); err != nil {
			return nil, err
		}
	}
}

func (b *Barrier) decrypt(key string, ct []byte) ([]byte, error) {
	term, err := termOf(ct)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: %w", key, err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.keyring == nil {
		return nil, sealedErr()
	}
	tk := b.keyring.terms[term]
	if tk == nil {
		return nil, fmt.Errorf("decrypt %q: term %d: %w", key, term, ErrUnknownTerm)
	}
	pt, err := open(tk.aead, key, ct)
	if err != nil {
		return nil, fmt.Errorf("decrypt %q: %w", key, err)
	}
	return pt, nil
}

// checkKey keeps the keyring, the seal configuration and the init marker,
// which live in physical storage unencrypted by the data keys, out of
// reach of barrier callers.
func checkKey(key string) error {
	if key == keyringPath || key == sealConfigPath || key == InitPendingPath {
		return fmt.Errorf("%q: %w", key, ErrReservedKey)
	}
	return nil
}
