package core

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/seal"
)

// fullDisk is storage that refuses writes under prefix while fail is set,
// as a full disk or a lost database connection would midway through init.
type fullDisk struct {
	*inmem.Backend
	prefix string
	fail   atomic.Bool
	// onFail, when set, runs at a refused write: another server sharing
	// the storage acting at that moment.
	onFail func()
}

var errDiskFull = errors.New("no space left on device")

func (f *fullDisk) refuses(key string) bool {
	if !f.fail.Load() || !strings.HasPrefix(key, f.prefix) {
		return false
	}
	if f.onFail != nil {
		f.onFail()
	}
	return true
}

func (f *fullDisk) Put(ctx context.Context, e *physical.Entry) error {
	if f.refuses(e.Key) {
		return errDiskFull
	}
	return f.Backend.Put(ctx, e)
}

func (f *fullDisk) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	for _, op := range ops {
		if f.refuses(op.Entry.Key) {
			return errDiskFull
		}
	}
	return f.Backend.Transaction(ctx, ops)
}

func storedKeys(t *testing.T, p physical.Backend) []string {
	t.Helper()
	keys, err := logical.CollectKeys(context.Background(), p, "")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestFailedInitCanBeRetried: an init that fails after the keyring is
// written (here at the root token) removes what it wrote, so the store is
// uninitialised and empty again, and a second init works and unseals.
func TestFailedInitCanBeRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &fullDisk{Backend: inmem.New(), prefix: tokenPrefix}
	disk.fail.Store(true)
	c := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := c.Initialize(ctx, 3, 2); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a full disk: %v", err)
	}
	if keys := storedKeys(t, disk); len(keys) != 0 {
		t.Fatalf("a failed init left %v", keys)
	}
	if st, err := c.SealStatus(ctx); err != nil || st.Initialized {
		t.Fatalf("after a failed init: %+v, %v", st, err)
	}
	disk.fail.Store(false)
	res, err := c.Initialize(ctx, 3, 2)
	if err != nil {
		t.Fatalf("init again: %v", err)
	}
	for _, k := range res.Keys[:2] {
		if _, err := c.Unseal(ctx, k, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	if _, err := do(c, res.RootToken, logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("the second init's root token: %v", err)
	}
	// An init of an initialised store refuses and removes nothing.
	before := storedKeys(t, disk)
	if _, err := c.Initialize(ctx, 1, 1); !errors.Is(err, seal.ErrAlreadyInitialized) {
		t.Fatalf("init again: %v", err)
	}
	if after := storedKeys(t, disk); len(after) != len(before) {
		t.Fatalf("a refused init changed the store: %d keys, then %d", len(before), len(after))
	}
}

// TestFailedStaticInitCanBeRetried: the same with a static seal key, where
// init also unseals.
func TestFailedStaticInitCanBeRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &fullDisk{Backend: inmem.New(), prefix: clusterKey}
	disk.fail.Store(true)
	key := make([]byte, seal.KeySize)
	key[0] = 7
	c := New(Config{Physical: disk, StaticKey: key, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := c.Initialize(ctx, 0, 0); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a full disk: %v", err)
	}
	if keys := storedKeys(t, disk); len(keys) != 0 {
		t.Fatalf("a failed init left %v", keys)
	}
	disk.fail.Store(false)
	res, err := c.Initialize(ctx, 0, 0)
	if err != nil {
		t.Fatalf("init again: %v", err)
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	if _, err := do(c, res.RootToken, logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("the second init's root token: %v", err)
	}
}

// TestFailedInitSparesAnotherServersInit: servers sharing one storage (the
// postgresql backend) may both be told to init, and the second keyring
// stored replaces the first. The server that then fails must not remove
// the store the other has handed out keys for.
func TestFailedInitSparesAnotherServersInit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &fullDisk{Backend: inmem.New(), prefix: tokenPrefix}
	disk.fail.Store(true)
	disk.onFail = func() {
		_ = disk.Backend.Put(ctx, &physical.Entry{Key: barrier.KeyringPath, Value: []byte("the other server's keyring")})
		_ = disk.Backend.Put(ctx, &physical.Entry{Key: "core/the-other-servers-record", Value: []byte("x")})
	}
	c := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := c.Initialize(ctx, 1, 1); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a full disk: %v", err)
	}
	// (Sealing this server's barrier stores its keyring's encryption counts
	// over the other's: two inits of one storage at once were never safe.
	// The undo must not make it worse.)
	for _, k := range []string{barrier.KeyringPath, "core/the-other-servers-record", clusterKey} {
		if e, err := disk.Get(ctx, k); err != nil || e == nil {
			t.Errorf("%s after the failed init: %v, %v; the undo removed what it did not own", k, e, err)
		}
	}
}

// sharedHA stands for PostgreSQL's HA: storage other servers share.
type sharedHA struct{}

func (sharedHA) HAEnabled() bool { return true }
func (sharedHA) Campaign(ctx context.Context, _ string) (<-chan struct{}, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (sharedHA) Resign(context.Context) error { return nil }
func (sharedHA) LeaderValue(context.Context) (string, bool, error) {
	return "", false, nil
}

// TestFailedInitOnSharedStorageUndoesNothing: on storage that other servers
// share and may be initialising at the same moment, a failed init removes
// nothing (the operator empties the table, as before).
func TestFailedInitOnSharedStorageUndoesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &fullDisk{Backend: inmem.New(), prefix: tokenPrefix}
	disk.fail.Store(true)
	c := New(Config{Physical: disk, HA: sharedHA{}, StorageType: "postgresql", Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := c.Initialize(ctx, 1, 1); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a full disk: %v", err)
	}
	if e, err := disk.Get(ctx, barrier.KeyringPath); err != nil || e == nil {
		t.Fatalf("keyring after a failed init on shared storage: %v, %v", e, err)
	}
}
