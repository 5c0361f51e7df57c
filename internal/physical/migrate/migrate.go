// Package migrate copies every entry of one physical.Backend into another
// (coffer operator migrate: file → raft, raft → postgresql, …) and checks
// the copy.
//
// It works below the barrier: values are copied as the bytes the source
// holds (barrier ciphertext), never decrypted, so no unseal key is needed
// and the destination is unsealed with the source's keys. Keys are walked
// with List, folder by folder, in byte order, which is what lets a copy be
// resumed from a key (Options.Start). Writes are batched, as one
// transaction per batch where the destination is physical.Transactional.
//
// It assumes nothing else writes either backend while it runs: the caller
// opens both with their locks held (a running server's storage is refused
// at open). It is not a live replication tool.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/physical"
)

// Defaults of Options.
const (
	// DefaultBatchSize: on a loaded two-core machine 4,096 entries a
	// transaction copied file → raft about twice as fast as 512 (each
	// raft write costs two fsyncs, whatever its size).
	DefaultBatchSize = 4096
	// DefaultBatchBytes bounds one write's total value size, so a batch of
	// large entries does not become one huge raft log entry or SQL batch.
	DefaultBatchBytes = 4 << 20
	DefaultReaders    = 8
)

// Options tunes Copy; zero values mean the defaults.
type Options struct {
	// Start, when not empty, copies only the keys at or after it in byte
	// order (resuming a copy that stopped).
	Start string
	// BatchSize is the most entries written at once.
	BatchSize int
	// BatchBytes is the most value bytes written at once (a single larger
	// entry is written alone).
	BatchBytes int
	// Readers is how many Gets run at once on the source.
	Readers int
	// Progress, when set, is called after each batch is written with the
	// number of keys copied so far; it is called from one goroutine.
	Progress func(copied int)
}

// Result is what Copy did.
type Result struct {
	// Copied is how many entries were written to the destination.
	Copied int
	// Resume is, after a failure, the key a new run should start from
	// (every key before it is copied); empty when nothing is left.
	Resume string
}

// batch is a run of consecutive source entries.
type batch struct {
	entries []*physical.Entry
	err     error
}

// Copy writes every entry of src (at or after opts.Start) to dst, in key
// order. On failure Result.Resume names the first key not known to be
// copied. Neither backend may be written by anyone else meanwhile; a key
// that disappears from src during the copy is an error.
func Copy(ctx context.Context, src, dst physical.Backend, opts Options) (Result, error) {
	opts = withDefaults(opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	go func() {
		defer close(batches)
		read(ctx, src, opts, batches)
	}()
	res := Result{}
	// last is the last key written: resuming from it copies it again,
	// which is harmless, when the failure names no key of its own.
	last := opts.Start
	for b := range batches {
		if b.err != nil {
			res.Resume = last
			if len(b.entries) > 0 {
				res.Resume = b.entries[0].Key
			}
			return res, b.err
		}
		if err := write(ctx, dst, b.entries, opts); err != nil {
			res.Resume = b.entries[0].Key
			return res, err
		}
		res.Copied += len(b.entries)
		last = b.entries[len(b.entries)-1].Key
		if opts.Progress != nil {
			opts.Progress(res.Copied)
		}
	}
	if err := ctx.Err(); err != nil {
		res.Resume = last
		return res, err
	}
	return res, nil
}

func withDefaults(o Options) Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.Readers <= 0 {
		o.Readers = DefaultReaders
	}
	return o
}

// read walks src and sends its entries in batches. A failure is sent as a
// batch holding the error and, as its one entry, the key to resume from.
func read(ctx context.Context, src physical.Backend, opts Options, out chan<- batch) {
	send := func(b batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	fail := func(resume string, err error) {
		b := batch{err: err}
		if resume != "" {
			b.entries = []*physical.Entry{{Key: resume}}
		}
		send(b)
	}
	keys := make([]string, 0, opts.BatchSize)
	lastSent := ""
	flush := func() error {
		entries, err := fetch(ctx, src, keys, opts.Readers)
		if err != nil {
			fail(keys[0], err)
			return errStop
		}
		lastSent = keys[len(keys)-1]
		keys = make([]string, 0, opts.BatchSize)
		if !send(batch{entries: entries}) {
			return errStop
		}
		return nil
	}
	err := Walk(ctx, src, opts.Start, func(key string) error {
		keys = append(keys, key)
		if len(keys) < opts.BatchSize {
			return nil
		}
		return flush()
	})
	switch {
	case errors.Is(err, errStop):
	case err != nil:
		resume := lastSent
		if len(keys) > 0 {
			resume = keys[0]
		}
		fail(resume, fmt.Errorf("list the source: %w", err))
	case len(keys) > 0:
		_ = flush()
	}
}

// errStop ends a walk whose failure read has already reported.
var errStop = errors.New("stop")

// fetch reads the values of keys with up to readers Gets at once and
// returns the entries in the order of keys.
func fetch(ctx context.Context, src physical.Backend, keys []string, readers int) ([]*physical.Entry, error) {
	entries := make([]*physical.Entry, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(readers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e, err := src.Get(ctx, keys[i])
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("read %q from the source: %w", keys[i], err)
				case e == nil:
					errs[i] = fmt.Errorf("key %q vanished from the source while copying: is a server using it?", keys[i])
				default:
					entries[i] = &physical.Entry{Key: keys[i], Value: e.Value}
				}
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// write stores entries in dst: one transaction per chunk of at most
// BatchBytes when dst is transactional, else concurrent Puts.
func write(ctx context.Context, dst physical.Backend, entries []*physical.Entry, opts Options) error {
	tx, ok := dst.(physical.Transactional)
	if !ok {
		return putAll(ctx, dst, entries, opts.Readers)
	}
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && (n == 0 || size+len(entries[n].Value) <= opts.BatchBytes) {
			size += len(entries[n].Value)
			n++
		}
		ops := make([]physical.TxnOp, n)
		for i, e := range entries[:n] {
			ops[i] = physical.TxnOp{Entry: e}
		}
		if err := tx.Transaction(ctx, ops); err != nil {
			return fmt.Errorf("write %d keys from %q to the destination: %w", n, entries[0].Key, err)
		}
		entries = entries[n:]
	}
	return nil
}

func putAll(ctx context.Context, dst physical.Backend, entries []*physical.Entry, writers int) error {
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(writers, len(entries)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := dst.Put(ctx, entries[i]); err != nil {
					errs[i] = fmt.Errorf("write %q to the destination: %w", entries[i].Key, err)
				}
			}
		}()
	}
	for i := range entries {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Walk calls fn with every key of b at or after start (all keys when start
// is empty), in byte order, listing folder by folder and skipping folders
// wholly before start. It fails with ErrOrder should b list out of order,
// and stops at the first error fn returns.
func Walk(ctx context.Context, b physical.Backend, start string, fn func(key string) error) error {
	last, first := "", true
	return walk(ctx, b, "", start, func(key string) error {
		if !first && key <= last {
			return fmt.Errorf("%w: %q after %q", ErrOrder, key, last)
		}
		last, first = key, false
		return fn(key)
	})
}

func walk(ctx context.Context, b physical.Backend, prefix, start string, fn func(string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	names, err := b.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		full := prefix + n
		if strings.HasSuffix(n, "/") {
			// Every key in the folder sorts before start unless start
			// is inside it or the folder sorts after start.
			if full < start && !strings.HasPrefix(start, full) {
				continue
			}
			if err := walk(ctx, b, full, start, fn); err != nil {
				return err
			}
			continue
		}
		if full < start {
			continue
		}
		if err := fn(full); err != nil {
			return err
		}
	}
	return nil
}
