package core

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/seal"
)

// newNodeRaft is a new node's raft: HasState is false until Bootstrap has
// run, which, as raft's, fails on a node that has state.
type newNodeRaft struct {
	fakeRaft
	booted atomic.Bool
}

func (f *newNodeRaft) HasState() (bool, error) { return f.booted.Load(), nil }

func (f *newNodeRaft) Bootstrap(context.Context) error {
	time.Sleep(20 * time.Millisecond) // raft writes its state meanwhile
	if f.booted.Swap(true) {
		return errors.New("bootstrap raft cluster: bootstrap only works on new clusters")
	}
	return nil
}

// TestConcurrentInitOnNewRaftNode: inits sent at once to a new raft node
// bootstrap it once; one answers with keys, the others that the node is
// initialised. All but the first failed in Bootstrap with a 500.
func TestConcurrentInitOnNewRaftNode(t *testing.T) {
	t.Parallel()
	c := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
		StorageType: "raft", Raft: &newNodeRaft{fakeRaft: fakeRaft{id: "n1"}}, ClusterPort: fakePort{"127.0.0.1:8201"}})
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Initialize(context.Background(), 1, 1) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, seal.ErrAlreadyInitialized):
			t.Errorf("init %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d inits answered with keys, want 1", won)
	}
}
