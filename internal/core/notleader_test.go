package core_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/registry"
)

// followerStore is in-memory storage that, while refuse is set, refuses
// writes as a raft node does once it is no longer the leader.
type followerStore struct {
	*inmem.Backend
	refuse atomic.Bool
}

func (s *followerStore) check() error {
	if s.refuse.Load() {
		return fmt.Errorf("%w (the leader is node %q at %s)", raftstore.ErrNotLeader, "node1", "node1")
	}
	return nil
}

func (s *followerStore) Put(ctx context.Context, e *physical.Entry) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Backend.Put(ctx, e)
}

func (s *followerStore) Delete(ctx context.Context, key string) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Backend.Delete(ctx, key)
}

func (s *followerStore) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Backend.Transaction(ctx, ops)
}

// A write that raft refuses because leadership moved while the request was
// served (the active node has not seen the loss yet, and a standby
// forwarded to it meanwhile; or sys/init before the first election
// settled) is a 503 the client retries, not a 500: the flake of
// TestHAOneActiveStandbysForward on a loaded machine.
func TestWriteRefusedByANonLeaderIsRetryable(t *testing.T) {
	st := &followerStore{Backend: inmem.New()}
	n := &haNode{core: core.New(core.Config{Physical: st, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})}
	n.api = httptest.NewServer(httpapi.New(n.core, httpapi.Options{}))
	t.Cleanup(func() {
		_ = n.core.Seal(context.Background())
		n.api.Close()
	})
	var fail struct{ Errors []string }
	init := map[string]any{"secret_shares": 1, "secret_threshold": 1}

	st.refuse.Store(true)
	do(t, n, http.MethodPut, "sys/init", "", init, &fail, http.StatusServiceUnavailable)
	wantRetry(t, "sys/init", fail.Errors)

	st.refuse.Store(false)
	var keys struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	do(t, n, http.MethodPut, "sys/init", "", init, &keys, http.StatusOK)
	do(t, n, http.MethodPut, "sys/unseal", "", map[string]any{"key": keys.Keys[0]}, nil, http.StatusOK)

	mount := map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}
	st.refuse.Store(true)
	fail.Errors = nil
	do(t, n, http.MethodPost, "sys/mounts/secret", keys.RootToken, mount, &fail, http.StatusServiceUnavailable)
	wantRetry(t, "sys/mounts/secret", fail.Errors)

	// The retry succeeds once this node may write again.
	st.refuse.Store(false)
	do(t, n, http.MethodPost, "sys/mounts/secret", keys.RootToken, mount, nil, http.StatusNoContent)
}

func wantRetry(t *testing.T, what string, errs []string) {
	t.Helper()
	if len(errs) != 1 || !strings.Contains(errs[0], "not the raft leader") || !strings.Contains(errs[0], "retry") {
		t.Fatalf("%s: errors %q, want one that says the node is not the leader and to retry", what, errs)
	}
	if strings.Contains(errs[0], "core/") {
		t.Fatalf("%s: the message names a storage key: %q", what, errs[0])
	}
}
