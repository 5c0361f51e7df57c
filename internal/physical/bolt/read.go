package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

var _ physical.ReadBeginner = (*Backend)(nil)

// BeginRead implements physical.ReadBeginner: the keys are read in one
// bbolt read transaction, begun here, after the write-ahead log's overlay
// (which holds what bbolt does not yet).
//
// A transaction is a snapshot, and the overlay forgets a key once the
// background commit has put it in bbolt: a key the overlay no longer holds
// may then be newer in bbolt than in the snapshot. So the read notes how
// far bbolt had caught up when the snapshot was taken; a key missing from
// the overlay is read from the snapshot only if bbolt has applied nothing
// since, and by a Get (a new transaction) otherwise.
func (b *Backend) BeginRead(ctx context.Context) (physical.ReadTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &boltRead{b: b}
	if b.log != nil {
		r.applied = b.log.appliedSeq()
	}
	tx, err := b.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	r.tx, r.bucket = tx, tx.Bucket(bucketName)
	return r, nil
}

type boltRead struct {
	b       *Backend
	tx      *bbolt.Tx
	bucket  *bbolt.Bucket
	applied uint64 // the log's applied seq before tx began
	key     []byte // reused for the seeks
}

func (r *boltRead) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if r.tx == nil {
		return nil, false, fmt.Errorf("get %q: %w", key, bbolt.ErrTxClosed)
	}
	if l := r.b.log; l != nil {
		v, found, applied := l.peek(key)
		switch {
		case found && v == nil:
			return nil, false, nil
		case found:
			return v, true, nil
		case applied != r.applied:
			e, err := r.b.Get(ctx, key)
			if err != nil || e == nil {
				return nil, false, err
			}
			return e.Value, true, nil
		}
	}
	r.key = append(r.key[:0], key...)
	k, v := r.bucket.Cursor().Seek(r.key)
	if k == nil || !bytes.Equal(k, r.key) {
		return nil, false, nil
	}
	// bbolt's slices are only valid inside the transaction.
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, true, nil
}

func (r *boltRead) Done() {
	if r.tx != nil {
		_ = r.tx.Rollback()
		r.tx, r.bucket = nil, nil
	}
}
