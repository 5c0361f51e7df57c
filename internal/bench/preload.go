package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/engine/kv"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// Preload describes a bulk load of KV v2 secrets into a stopped server's
// file store, for the growth workloads: a million keys through the HTTP
// API would take most of an hour of durable commits.
//
// The load is still the real thing below the HTTP layer: every secret is a
// create request handled by the KV v2 engine (metadata and version 1, as a
// client's write makes them), encrypted by the barrier under the store's
// keyring, with the view prefix of the mount. Only the commits differ: the
// engine's writes are gathered into transactions of TxnSize operations,
// each one bbolt commit, instead of one commit per request.
type Preload struct {
	// DataDir is the file storage's directory (storage "file" path).
	DataDir string
	// Key is the static seal key, which unseals the barrier.
	Key []byte
	// MountUUID names the KV v2 mount's data prefix, logical/<uuid>/.
	MountUUID string
	// From and To bound the secrets written: bench/key-From … key-(To-1),
	// each with {"value": ValueSize bytes, "n": its number}, as the bench
	// seeds them through the API. Each must not exist yet.
	From, To  int
	ValueSize int
	// TxnSize is the number of storage operations per commit (10,000 when 0).
	TxnSize int
}

// Run writes the secrets. It fails if the server still holds the file.
func (p Preload) Run(ctx context.Context) error {
	if p.To <= p.From {
		return nil
	}
	b, err := bolt.Open(p.DataDir)
	if err != nil {
		return err
	}
	defer b.Close()
	bar := barrier.New(b)
	if err := bar.Unseal(ctx, p.Key); err != nil {
		return fmt.Errorf("unseal the store: %w", err)
	}
	defer bar.Seal()
	bs := &batchStorage{
		view: logical.NewView(bar, "logical/"+p.MountUUID+"/"),
		size: p.TxnSize, pending: map[string]*logical.StorageEntry{},
		flushes: make(chan []logical.TxnOp, 1), flushed: make(chan error, 1),
	}
	if bs.size <= 0 {
		bs.size = 10000
	}
	go bs.flusher(ctx)
	backend, err := kv.Factory(ctx, &logical.BackendConfig{
		Storage: bs, Options: map[string]string{"version": "2"}, MountPath: "secret/", MountUUID: p.MountUUID,
	})
	if err != nil {
		return errors.Join(err, bs.close())
	}
	val := strings.Repeat("v", p.ValueSize)
	for i := p.From; i < p.To; i++ {
		n := strconv.Itoa(i)
		_, err := backend.HandleRequest(ctx, &logical.Request{
			Operation: logical.CreateOperation, Path: "data/bench/key-" + n, Storage: bs,
			Data: map[string]any{"data": map[string]any{"value": val, "n": n}},
		})
		if err == nil {
			err = bs.err()
		}
		if err != nil {
			return errors.Join(fmt.Errorf("preload key %d: %w", i, err), bs.close())
		}
	}
	return bs.close()
}

// batchStorage gathers writes into large transactions that a goroutine of
// its own applies while the next batch fills. Reads see the batch being
// filled, not one being applied: the preload writes each key once.
type batchStorage struct {
	view *logical.View
	size int

	mu      sync.Mutex
	ops     []logical.TxnOp
	pending map[string]*logical.StorageEntry
	failed  error

	flushes chan []logical.TxnOp
	flushed chan error
}

func (s *batchStorage) flusher(ctx context.Context) {
	var err error
	for ops := range s.flushes {
		if err == nil {
			err = s.view.Transaction(ctx, ops)
		}
		if err != nil {
			s.mu.Lock()
			s.failed = err
			s.mu.Unlock()
		}
	}
	s.flushed <- err
}

func (s *batchStorage) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// close applies what is left and waits for every batch to be committed.
func (s *batchStorage) close() error {
	s.mu.Lock()
	ops := s.ops
	s.ops = nil
	s.mu.Unlock()
	if len(ops) > 0 {
		s.flushes <- ops
	}
	close(s.flushes)
	return <-s.flushed
}

func (s *batchStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.mu.Lock()
	e, ok := s.pending[key]
	s.mu.Unlock()
	if ok {
		if e == nil {
			return nil, nil
		}
		return &logical.StorageEntry{Key: key, Value: e.Value}, nil
	}
	return s.view.Get(ctx, key)
}

func (s *batchStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	return s.Transaction(ctx, []logical.TxnOp{{Entry: e}})
}

func (s *batchStorage) Delete(ctx context.Context, key string) error {
	return s.Transaction(ctx, []logical.TxnOp{{Delete: true, Entry: &logical.StorageEntry{Key: key}}})
}

func (s *batchStorage) List(ctx context.Context, prefix string) ([]string, error) {
	return nil, errors.New("preload storage cannot list")
}

// Transaction queues ops; a full batch goes to the flusher, which the
// caller then waits for only if the previous batch is still being applied.
func (s *batchStorage) Transaction(_ context.Context, ops []logical.TxnOp) error {
	s.mu.Lock()
	for _, op := range ops {
		e := &logical.StorageEntry{Key: op.Entry.Key, Value: op.Entry.Value}
		s.ops = append(s.ops, logical.TxnOp{Delete: op.Delete, Entry: e})
		if op.Delete {
			e = nil
		}
		s.pending[op.Entry.Key] = e
	}
	var full []logical.TxnOp
	if len(s.ops) >= s.size {
		full, s.ops = s.ops, nil
		s.pending = map[string]*logical.StorageEntry{}
	}
	s.mu.Unlock()
	if full != nil {
		s.flushes <- full
	}
	return nil
}

var (
	_ logical.Storage       = (*batchStorage)(nil)
	_ logical.Transactional = (*batchStorage)(nil)
)
