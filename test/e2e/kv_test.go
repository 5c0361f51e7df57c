package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

func TestKVv2Lifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	kv := s.client.KVv2("secret")

	v1, err := kv.Put(ctx, "myapp/database", map[string]any{"user": "app", "password": "s3cret"})
	if err != nil || v1.VersionMetadata.Version != 1 {
		t.Fatalf("put v1: %+v %v", v1, err)
	}
	if _, err := kv.Put(ctx, "myapp/database", map[string]any{"user": "app2"}, api.WithCheckAndSet(1)); err != nil {
		t.Fatalf("put v2 with cas: %v", err)
	}
	if _, err := kv.Put(ctx, "myapp/database", map[string]any{"user": "x"}, api.WithCheckAndSet(1)); statusOf(err) != http.StatusBadRequest && statusOf(err) != http.StatusPreconditionFailed {
		t.Fatalf("stale cas accepted: %v", err)
	}
	got, err := kv.Get(ctx, "myapp/database")
	if err != nil || got.Data["user"] != "app2" || got.VersionMetadata.Version != 2 {
		t.Fatalf("get latest: %+v %v", got, err)
	}
	old, err := kv.GetVersion(ctx, "myapp/database", 1)
	if err != nil || old.Data["password"] != "s3cret" {
		t.Fatalf("get v1: %+v %v", old, err)
	}
	patched, err := kv.Patch(ctx, "myapp/database", map[string]any{"port": "5432"})
	if err != nil || patched.VersionMetadata.Version != 3 {
		t.Fatalf("patch: %+v %v", patched, err)
	}
	got, _ = kv.Get(ctx, "myapp/database")
	if got.Data["user"] != "app2" || got.Data["port"] != "5432" {
		t.Fatalf("after patch: %v", got.Data)
	}
	if err := kv.Delete(ctx, "myapp/database"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Like Vault, a deleted version answers 404 with its metadata; the
	// client reports it as a secret without data.
	if got, err := kv.Get(ctx, "myapp/database"); err == nil && (got.Data != nil || got.VersionMetadata.DeletionTime.IsZero()) {
		t.Fatalf("deleted version still readable: %+v", got)
	}
	if err := kv.Undelete(ctx, "myapp/database", []int{3}); err != nil {
		t.Fatalf("undelete: %v", err)
	}
	if got, err := kv.Get(ctx, "myapp/database"); err != nil || got.Data["port"] != "5432" {
		t.Fatalf("after undelete: %+v %v", got, err)
	}
	if err := kv.Destroy(ctx, "myapp/database", []int{1}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if got, err := kv.GetVersion(ctx, "myapp/database", 1); err == nil && (got.Data != nil || !got.VersionMetadata.Destroyed) {
		t.Fatalf("destroyed version readable: %+v", got)
	}
	versions, err := kv.GetVersionsAsList(ctx, "myapp/database")
	if err != nil || len(versions) != 3 || !versions[0].Destroyed {
		t.Fatalf("versions: %+v %v", versions, err)
	}
	meta, err := kv.GetMetadata(ctx, "myapp/database")
	if err != nil || meta.CurrentVersion != 3 {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	if err := kv.PutMetadata(ctx, "myapp/database", api.KVMetadataPutInput{MaxVersions: 5, CustomMetadata: map[string]any{"owner": "team-a"}}); err != nil {
		t.Fatalf("put metadata: %v", err)
	}
	meta, _ = kv.GetMetadata(ctx, "myapp/database")
	if meta.MaxVersions != 5 || meta.CustomMetadata["owner"] != "team-a" {
		t.Fatalf("metadata after put: %+v", meta)
	}
	list, err := s.client.Logical().List("secret/metadata/myapp")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := kv.DeleteMetadata(ctx, "myapp/database"); err != nil {
		t.Fatalf("delete metadata: %v", err)
	}
	if _, err := kv.GetMetadata(ctx, "myapp/database"); err == nil {
		t.Fatal("metadata survived delete")
	}
}

func TestKVv1(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("kv1", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	kv := s.client.KVv1("kv1")
	ctx := context.Background()
	if err := kv.Put(ctx, "a/b", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, "a/b")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if got.Raw.LeaseDuration != 768*3600 || got.Raw.LeaseID != "" || got.Raw.Renewable {
		t.Fatalf("KV v1 read must carry the mount's lease duration and no lease: %+v", got.Raw)
	}
	list, err := s.client.Logical().List("kv1/a")
	if err != nil || list == nil {
		t.Fatalf("list: %v", err)
	}
	if err := kv.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "a/b"); err == nil {
		t.Fatal("deleted secret readable")
	}
}

func TestMountsLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.Mount("team", &api.MountInput{Type: "kv-v2", Description: "team secrets"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.Mount("team", &api.MountInput{Type: "kv"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("duplicate mount: %v", err)
	}
	if err := sys.Mount("sys/x", &api.MountInput{Type: "kv"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("reserved mount: %v", err)
	}
	if err := sys.Mount("bogus", &api.MountInput{Type: "nope"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("unknown type: %v", err)
	}
	mounts, err := sys.ListMounts()
	if err != nil || mounts["team/"] == nil || mounts["team/"].Options["version"] != "2" || mounts["sys/"] == nil {
		t.Fatalf("list mounts: %v %v", mounts, err)
	}
	if _, err := s.client.KVv2("team").Put(context.Background(), "x", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.TuneMount("team", api.MountConfigInput{DefaultLeaseTTL: "1h", MaxLeaseTTL: "2h", Description: ptr("tuned")}); err != nil {
		t.Fatalf("tune: %v", err)
	}
	cfg, err := sys.MountConfig("team")
	if err != nil || cfg.DefaultLeaseTTL != 3600 || cfg.MaxLeaseTTL != 7200 {
		t.Fatalf("tuned config: %+v %v", cfg, err)
	}
	ui, err := s.client.Logical().Read("sys/internal/ui/mounts/team/x")
	if err != nil || ui.Data["path"] != "team/" || ui.Data["type"] != "kv" {
		t.Fatalf("ui mounts: %+v %v", ui, err)
	}
	if err := sys.Unmount("team"); err != nil {
		t.Fatal(err)
	}
	if err := sys.Mount("team", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("team").Get(context.Background(), "x"); err == nil {
		t.Fatal("data survived disabling its mount")
	}
	auths, err := sys.ListAuth()
	if err != nil || auths["token/"] == nil || auths["token/"].Type != "token" {
		t.Fatalf("list auth: %v %v", auths, err)
	}
}

func ptr[T any](v T) *T { return &v }
