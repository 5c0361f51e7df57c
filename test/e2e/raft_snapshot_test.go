package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/registry"
)

// startRaft starts an uninitialised server on single-node raft storage in
// dir; stop (also run at cleanup) seals it and closes the storage.
func startRaft(t *testing.T, dir string) (s *server, stop func()) {
	t.Helper()
	return startRaftWith(t, raftstore.Config{Path: dir})
}

// startRaftWith is startRaft with storage settings (Path required).
func startRaftWith(t *testing.T, cfg raftstore.Config) (s *server, stop func()) {
	t.Helper()
	cfg.NodeID, cfg.PerformanceMultiplier = "n1", 1
	rb, err := raftstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !rb.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("raft node never led")
		}
		time.Sleep(10 * time.Millisecond)
	}
	co := core.New(core.Config{
		Physical: rb, StorageType: "raft", Version: "test", ClusterName: "e2e",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(), ProtectedPaths: []string{cfg.Path},
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	done := false
	stop = func() {
		if !done {
			done = true
			ts.Close()
			_ = co.Seal(context.Background())
			_ = rb.Close()
		}
	}
	t.Cleanup(stop)
	return &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}, stop
}

// initRaft initialises s with shares/threshold, unseals it and mounts KV
// v2 at secret/.
func initRaft(t *testing.T, s *server, shares, threshold int) {
	t.Helper()
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	unsealWith(t, s.client, s.keys[:threshold])
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
}

func unsealWith(t *testing.T, c *api.Client, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatalf("unseal: %v", err)
		}
	}
	if st, err := c.Sys().SealStatus(); err != nil || st.Sealed {
		t.Fatalf("still sealed after the shares: %+v, %v", st, err)
	}
}

func kvPut(t *testing.T, c *api.Client, path, value string) {
	t.Helper()
	if _, err := c.KVv2("secret").Put(context.Background(), path, map[string]any{"v": value}); err != nil {
		t.Fatalf("put %s: %v", path, err)
	}
}

// kvGet returns the secret's value, or "" when there is none.
func kvGet(t *testing.T, c *api.Client, path string) string {
	t.Helper()
	s, err := c.KVv2("secret").Get(context.Background(), path)
	if err != nil {
		if strings.Contains(err.Error(), "secret not found") {
			return ""
		}
		t.Fatalf("get %s: %v", path, err)
	}
	v, _ := s.Data["v"].(string)
	return v
}

// rawRestore posts body to the restore endpoint and returns the status and
// the body of the answer.
func rawRestore(t *testing.T, s *server, token string, force bool, body []byte) (int, string) {
	t.Helper()
	path := "/v1/sys/storage/raft/snapshot"
	if force {
		path += "-force"
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRaftSnapshotSaveRestoreAndRefusals(t *testing.T) {
	dir := t.TempDir()
	s, _ := startRaft(t, dir)
	initRaft(t, s, 5, 3)
	c := s.client
	kvPut(t, c, "a", "saved")
	kvPut(t, c, "b", "saved")

	var snap bytes.Buffer
	if err := c.Sys().RaftSnapshot(&snap); err != nil { // the OpenBao client checks the archive's shape
		t.Fatal(err)
	}
	meta, err := raftstore.ReadArchive(bytes.NewReader(snap.Bytes()), nil, nil)
	if err != nil || meta.Keys == 0 || meta.Index == 0 {
		t.Fatalf("saved archive: %+v, %v", meta, err)
	}
	resp, err := c.Logical().ReadRawWithContext(context.Background(), "sys/storage/raft/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	_ = resp.Body.Close()

	kvPut(t, c, "a", "changed")
	kvPut(t, c, "c", "new")
	if err := c.KVv2("secret").DeleteMetadata(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().RaftSnapshotRestore(bytes.NewReader(snap.Bytes()), false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"a": "saved", "b": "saved", "c": ""} {
		if got := kvGet(t, c, path); got != want {
			t.Errorf("after restore %s = %q, want %q", path, got, want)
		}
	}
	kvPut(t, c, "after", "ok") // the restored server takes writes
	kvPut(t, c, "a", "current")

	archive := snap.Bytes()
	flipped := bytes.Clone(archive)
	flipped[len(flipped)/2] ^= 0x01
	for name, body := range map[string][]byte{
		"truncated": archive[:len(archive)*2/3],
		"corrupted": flipped,
		"garbage":   []byte("not a snapshot"),
	} {
		code, msg := rawRestore(t, s, s.root, false, body)
		if code != http.StatusBadRequest || !strings.Contains(msg, "nothing was changed") {
			t.Errorf("%s snapshot: %d %s", name, code, msg)
		}
		code, _ = rawRestore(t, s, s.root, true, body)
		if code != http.StatusBadRequest {
			t.Errorf("%s snapshot forced: %d", name, code)
		}
		if got := kvGet(t, c, "a"); got != "current" {
			t.Fatalf("after a refused %s snapshot a = %q", name, got)
		}
	}
	if st, _ := c.Sys().SealStatus(); st.Sealed {
		t.Fatal("a refused snapshot sealed the server")
	}
	noRestoreSpools(t, dir)

	// Sudo is required, as in Vault.
	if err := c.Sys().PutPolicy("snapper", `path "sys/storage/raft/snapshot" { capabilities = ["read", "update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"snapper"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.as(t, tok.Auth.ClientToken).Sys().RaftSnapshot(io.Discard); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("snapshot without sudo: %v", err)
	}
}

// noRestoreSpools fails when a snapshot restore left a spool file in the
// raft data directory dir (or anywhere under it).
func noRestoreSpools(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "restore-") {
			t.Errorf("restore spool left behind: %s", path)
		}
		return nil
	})
}

// A snapshot over max_snapshot_size is refused with a 413 that names the
// setting, forced or not; nothing changes and no spool is left.
func TestRaftSnapshotOverLimitRefused(t *testing.T) {
	dir := t.TempDir()
	const limit = 512 << 10
	s, _ := startRaftWith(t, raftstore.Config{Path: dir, MaxSnapshotSize: limit})
	initRaft(t, s, 1, 1)
	c := s.client
	big := strings.Repeat("x", 32<<10)
	for i := 0; i < 24; i++ {
		kvPut(t, c, fmt.Sprintf("big%d", i), big)
	}
	var snap bytes.Buffer
	if err := c.Sys().RaftSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Len() <= limit {
		t.Fatalf("the snapshot is %d bytes, not over the %d-byte limit", snap.Len(), limit)
	}
	kvPut(t, c, "big0", "changed")
	for _, force := range []bool{false, true} {
		code, msg := rawRestore(t, s, s.root, force, snap.Bytes())
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "max_snapshot_size") || !strings.Contains(msg, "nothing was changed") {
			t.Fatalf("force=%v: %d %s; want 413 naming max_snapshot_size", force, code, msg)
		}
		if got := kvGet(t, c, "big0"); got != "changed" {
			t.Fatalf("force=%v: an oversized snapshot changed the data: %q", force, got)
		}
	}
	noRestoreSpools(t, dir)
}

func TestRaftSnapshotForceIntoNewCluster(t *testing.T) {
	orig, stopOrig := startRaft(t, t.TempDir())
	initRaft(t, orig, 5, 3)
	kvPut(t, orig.client, "db", "password-1")
	var snap bytes.Buffer
	if err := orig.client.Sys().RaftSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	stopOrig()

	// A wiped node: new data directory, new server, other keys.
	fresh, _ := startRaft(t, t.TempDir())
	initRaft(t, fresh, 1, 1)
	kvPut(t, fresh.client, "db", "fresh")
	code, msg := rawRestore(t, fresh, fresh.root, false, snap.Bytes())
	if code != http.StatusBadRequest || !strings.Contains(msg, "snapshot-force") {
		t.Fatalf("foreign snapshot without force: %d %s", code, msg)
	}
	if got := kvGet(t, fresh.client, "db"); got != "fresh" {
		t.Fatalf("refused snapshot changed data: %q", got)
	}
	if err := fresh.client.Sys().RaftSnapshotRestore(bytes.NewReader(snap.Bytes()), true); err != nil {
		t.Fatal(err)
	}
	st, err := fresh.client.Sys().SealStatus()
	if err != nil || !st.Sealed || st.N != 5 || st.T != 3 {
		t.Fatalf("after restore-force: %+v, %v; want sealed with the original 3 of 5", st, err)
	}
	if _, err := fresh.client.Sys().Unseal(fresh.keys[0]); err == nil {
		if st, _ := fresh.client.Sys().SealStatus(); !st.Sealed {
			t.Fatal("the new cluster's key unsealed the restored data")
		}
	}
	_, _ = fresh.client.Sys().ResetUnsealProcess()
	unsealWith(t, fresh.client, orig.keys[:3])
	c := fresh.as(t, orig.root)
	if got := kvGet(t, c, "db"); got != "password-1" {
		t.Fatalf("after restore-force db = %q", got)
	}
	kvPut(t, c, "db", "password-2")
	if got := kvGet(t, c, "db"); got != "password-2" {
		t.Fatalf("write after restore-force: %q", got)
	}
}

func TestRaftSnapshotNotRaft(t *testing.T) {
	s := start(t)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/sys/storage/raft/snapshot"},
		{http.MethodPost, "/v1/sys/storage/raft/snapshot-force"},
		{http.MethodGet, "/v1/sys/storage/raft/snapshot-auto/config/daily"},
	} {
		r, _ := http.NewRequest(req.method, s.url+req.path, strings.NewReader("x"))
		r.Header.Set("X-Vault-Token", s.root)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "raft storage is not in use") {
			t.Errorf("%s %s: %d %s", req.method, req.path, resp.StatusCode, b)
		}
	}
}

func TestRaftAutoSnapshotKeepsRetain(t *testing.T) {
	data := t.TempDir()
	s, _ := startRaft(t, data)
	initRaft(t, s, 1, 1)
	kvPut(t, s.client, "x", "y")
	dir := filepath.Join(t.TempDir(), "snaps")
	l := s.client.Logical()
	for name, tc := range map[string]struct {
		body map[string]any
		want string
	}{
		"storage_type":       {map[string]any{"storage_type": "s3", "path_prefix": dir, "local_max_space": 1 << 20}, "storage_type"},
		"no local_max_space": {map[string]any{"storage_type": "local", "path_prefix": dir}, "local_max_space is required"},
		"in the data dir":    {map[string]any{"storage_type": "local", "path_prefix": filepath.Join(data, "snaps"), "local_max_space": 1 << 20}, "overlaps"},
		"over the data dir":  {map[string]any{"storage_type": "local", "path_prefix": filepath.Dir(data), "local_max_space": 1 << 20}, "overlaps"},
		"relative":           {map[string]any{"storage_type": "local", "path_prefix": "snaps", "local_max_space": 1 << 20}, "absolute"},
	} {
		tc.body["interval"] = "1s"
		_, err := l.Write("sys/storage/raft/snapshot-auto/config/bad", tc.body)
		if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want a 400 about %q", name, err, tc.want)
		}
	}
	if _, err := l.Write("sys/storage/raft/snapshot-auto/config/every-second", map[string]any{
		"interval": "1s", "retain": 2, "storage_type": "local", "path_prefix": dir, "file_prefix": "e2e", "local_max_space": 64 << 20,
	}); err != nil {
		t.Fatal(err)
	}
	list, err := l.List("sys/storage/raft/snapshot-auto/config")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	cfg, err := l.Read("sys/storage/raft/snapshot-auto/config/every-second")
	if err != nil || fmt.Sprint(cfg.Data["retain"]) != "2" || cfg.Data["storage_type"] != "local" {
		t.Fatalf("read: %v, %v", cfg, err)
	}
	// Wait for at least four snapshots to have been taken.
	deadline := time.Now().Add(60 * time.Second)
	var taken []string
	for {
		st, err := l.Read("sys/storage/raft/snapshot-auto/status/every-second")
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := st.Data["last_snapshot_url"].(string); u != "" && !slices.Contains(taken, u) {
			taken = append(taken, u)
		}
		if e, _ := st.Data["last_snapshot_error"].(string); e != "" {
			t.Fatalf("snapshot error: %s", e)
		}
		if len(taken) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d snapshots in 60s", len(taken))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := l.Delete("sys/storage/raft/snapshot-auto/config/every-second"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a run in progress finishes
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("files = %v, want the newest 2", files)
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil || info.Mode().Perm() != 0o600 || !strings.HasPrefix(filepath.Base(f), "e2e-") {
			t.Fatalf("%s: %v %v", f, info.Mode(), err)
		}
		fh, _ := os.Open(f)
		if _, err := raftstore.ReadArchive(fh, nil, nil); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		_ = fh.Close()
	}
	if newest := strings.TrimPrefix(taken[len(taken)-1], "file://"); newest != files[1] {
		t.Fatalf("newest file %s, last reported %s", files[1], newest)
	}
}
