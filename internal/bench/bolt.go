package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical/bolt"
)

var boltCeilingBucket = []byte("bench")

// BoltBatch opens a bbolt file in dir with the settings of Coffer's file
// storage (bolt.OpenDB) and returns an Op that writes one value of
// valueSize bytes to a random one of keys keys through DB.Batch, and
// returns once it is durable: the durable-write ceiling a KV write is
// compared with. close releases the file.
func BoltBatch(dir string, keys, valueSize int, opts ...bolt.Option) (op Op, close func() error, err error) {
	if keys < 1 {
		return nil, nil, fmt.Errorf("keys must be at least 1, not %d", keys)
	}
	db, err := bolt.OpenDB(dir, opts...)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltCeilingBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	val := make([]byte, valueSize)
	op = func(_ context.Context, _ *http.Client, _, _ int) error {
		key := fmt.Appendf(nil, "bench/key-%d", rand.IntN(keys))
		return db.Batch(func(tx *bbolt.Tx) error {
			return tx.Bucket(boltCeilingBucket).Put(key, val)
		})
	}
	return op, db.Close, nil
}
