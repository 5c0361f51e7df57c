package core

import (
	"context"
	"errors"
	"slices"
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

// killedDisk is a fullDisk whose deletes fail too while dead is set: the
// undo of a failed init cannot run, as when the process is killed midway.
type killedDisk struct {
	*fullDisk
	dead atomic.Bool
}

func (k *killedDisk) Delete(ctx context.Context, key string) error {
	if k.dead.Load() {
		return errDiskFull
	}
	return k.fullDisk.Delete(ctx, key)
}

// TestInterruptedInitIsRedone: an init that stopped after storing the
// keyring and before handing out keys, with no undo (the process killed),
// leaves a store that reads as uninitialised, and the next server's init
// removes what it wrote and initialises a store its keys unseal. Without
// the marker that store read as initialised and nobody could unseal it.
func TestInterruptedInitIsRedone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &killedDisk{fullDisk: &fullDisk{Backend: inmem.New(), prefix: tokenPrefix}}
	disk.fail.Store(true)
	disk.dead.Store(true)
	first := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := first.Initialize(ctx, 3, 2); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a failing disk: %v", err)
	}
	left := storedKeys(t, disk)
	if !slices.Contains(left, barrier.KeyringPath) || !slices.Contains(left, barrier.InitPendingPath) {
		t.Fatalf("the interrupted init left %v; want its keyring and its marker", left)
	}
	disk.fail.Store(false)
	disk.dead.Store(false)

	c := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if st, err := c.SealStatus(ctx); err != nil || st.Initialized {
		t.Fatalf("seal status after an interrupted init: %+v, %v; want uninitialised", st, err)
	}
	res, err := c.Initialize(ctx, 3, 2)
	if err != nil {
		t.Fatalf("init after an interrupted one: %v", err)
	}
	for _, k := range res.Keys[1:] {
		if _, err := c.Unseal(ctx, k, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	if _, err := do(c, res.RootToken, logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("the new root token: %v", err)
	}
	if slices.Contains(storedKeys(t, disk), barrier.InitPendingPath) {
		t.Fatal("the marker outlived a finished init")
	}
	if _, err := c.Initialize(ctx, 1, 1); !errors.Is(err, seal.ErrAlreadyInitialized) {
		t.Fatalf("init of the initialised store: %v", err)
	}
}

// TestInitMarkerLeftByRefusals: an init refused for its parameters
// leaves nothing behind, and a marker that cannot be read stops init with
// a message saying what to do instead of being taken for an empty list.
func TestInitMarkerLeftByRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := inmem.New()
	c := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := c.Initialize(ctx, 1, 2); !errors.Is(err, seal.ErrParts) {
		t.Fatalf("threshold above shares: %v", err)
	}
	if keys := storedKeys(t, disk); len(keys) != 0 {
		t.Fatalf("a refused init left %v", keys)
	}
	for _, e := range []*physical.Entry{{Key: barrier.KeyringPath, Value: []byte("x")}, {Key: barrier.InitPendingPath, Value: []byte("{not json")}} {
		if err := disk.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := c.SealStatus(ctx); err != nil || st.Initialized {
		t.Fatalf("seal status with a marker: %+v, %v", st, err)
	}
	if _, err := c.Initialize(ctx, 1, 1); err == nil || !strings.Contains(err.Error(), "damaged marker") {
		t.Fatalf("init over a damaged marker: %v", err)
	}
	if e, _ := disk.Get(ctx, barrier.KeyringPath); e == nil {
		t.Fatal("init over a damaged marker removed the keyring")
	}
}

// TestUndoKeepsMarkerWhenKeyringUnreadable: an init fails (a full disk)
// and its undo cannot read the keyring to tell whose it is (the storage
// flapped). Removing only the marker left this init's keyring reading as
// initialised with nobody holding its keys; the marker stays instead, the
// store reads as uninitialised and the next init works.
func TestUndoKeepsMarkerWhenKeyringUnreadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	disk := &flakyKeyringDisk{fullDisk: &fullDisk{Backend: inmem.New(), prefix: tokenPrefix}}
	disk.onFail = func() { disk.failGet.Store(true) }
	disk.fail.Store(true)
	first := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if _, err := first.Initialize(ctx, 1, 1); !errors.Is(err, errDiskFull) {
		t.Fatalf("init on a failing disk: %v", err)
	}
	disk.fail.Store(false)
	c := New(Config{Physical: disk, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	if st, err := c.SealStatus(ctx); err != nil || st.Initialized {
		t.Fatalf("seal status after a failed init whose keyring could not be read: %+v, %v; want uninitialised", st, err)
	}
	res, err := c.Initialize(ctx, 1, 1)
	if err != nil {
		t.Fatalf("init after it: %v", err)
	}
	if st, err := c.Unseal(ctx, res.Keys[0], false); err != nil || st.Sealed {
		t.Fatalf("unseal with the new key: %+v, %v", st, err)
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
}

// flakyKeyringDisk fails one read of the keyring once failGet is set.
type flakyKeyringDisk struct {
	*fullDisk
	failGet atomic.Bool
}

func (f *flakyKeyringDisk) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if key == barrier.KeyringPath && f.failGet.CompareAndSwap(true, false) {
		return nil, errors.New("connection reset")
	}
	return f.fullDisk.Get(ctx, key)
}
