package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/cache"
)

// The tests of this file are issue 9's guarantee that no cache on the read
// path serves what it should not: the ciphertext LRU in front of storage,
// the token store's entry cache and the ACLs cached per policy set. Each
// warms every cache by reading several times, changes one thing through
// the API, and checks the very next request.

// startCached starts a server on the stack "coffer server" runs for
// storage "file": bbolt with the read cache in front of it, which it also
// returns so a test can look into it.
func startCached(t *testing.T) (*server, *cache.Cache) {
	t.Helper()
	b, err := bolt.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() }) // after the server's own cleanup seals it
	c := cache.New(b, 0)
	return startOn(t, c), c
}

// uniqueValue is a secret value no response can hold by chance.
func uniqueValue(t *testing.T, name string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return name + "-" + hex.EncodeToString(b)
}

// readRaw is a GET of path (with query) as c's token: status and body.
func readRaw(t *testing.T, c *api.Client, path string, query map[string][]string) (int, string) {
	t.Helper()
	resp, err := c.Logical().ReadRawWithData(path, query)
	if resp == nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// warm reads path three times, each a 200 holding want, so that the
// caches hold the entry, the token and its ACL.
func warm(t *testing.T, c *api.Client, path string, query map[string][]string, want string) {
	t.Helper()
	for i := range 3 {
		if st, body := readRaw(t, c, path, query); st != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("warming read %d of %s: %d %s, want 200 with %s", i, path, st, body, want)
		}
	}
}

// notServed checks the next read of path answers status and does not
// hold secret.
func notServed(t *testing.T, c *api.Client, path string, query map[string][]string, status int, secret string) {
	t.Helper()
	st, body := readRaw(t, c, path, query)
	if st != status || strings.Contains(body, secret) {
		t.Fatalf("GET %s %v: %d %s; want %d without the secret", path, query, st, body, status)
	}
}

func version(v int) map[string][]string { return map[string][]string{"version": {fmt.Sprint(v)}} }

// mountUUID is the storage prefix of a secrets mount.
func mountUUID(t *testing.T, s *server, path string) string {
	t.Helper()
	m, err := s.client.Sys().ListMounts()
	if err != nil || m[path] == nil || m[path].UUID == "" {
		t.Fatalf("mount %s: %v %v", path, m, err)
	}
	return m[path].UUID
}

// notCached checks that the physical read cache answers key as absent,
// after the API call that removed it.
func notCached(t *testing.T, pc *cache.Cache, key string) {
	t.Helper()
	e, err := pc.Get(context.Background(), key)
	if err != nil || e != nil {
		t.Fatalf("the read cache still returns %q: %v %v", key, e, err)
	}
}

// readerToken makes a policy that reads path, and a token holding it.
func readerToken(t *testing.T, s *server, policy, path string) string {
	t.Helper()
	if err := s.client.Sys().PutPolicy(policy, fmt.Sprintf(`path %q { capabilities = ["read"] }`, path)); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Auth.ClientToken
}

func TestNoStaleKVv2(t *testing.T) {
	t.Parallel()
	s, pc := startCached(t)
	ctx := context.Background()
	kv := s.client.KVv2("secret")
	if err := s.client.Sys().PutPolicy("app", `path "secret/data/app" { capabilities = ["read"] }
path "secret/metadata/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.as(t, tok.Auth.ClientToken)
	put := func(name string) string {
		v := uniqueValue(t, name)
		if _, err := kv.Put(ctx, "app", map[string]any{"v": v}); err != nil {
			t.Fatal(err)
		}
		return v
	}

	v1 := put("v1")
	warm(t, c, "secret/data/app", nil, v1)
	if err := kv.Delete(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	notServed(t, c, "secret/data/app", nil, http.StatusNotFound, v1)
	notServed(t, c, "secret/data/app", version(1), http.StatusNotFound, v1)

	v2 := put("v2")
	warm(t, c, "secret/data/app", nil, v2)
	warm(t, c, "secret/data/app", version(2), v2)
	if err := kv.Destroy(ctx, "app", []int{2}); err != nil {
		t.Fatal(err)
	}
	notServed(t, c, "secret/data/app", nil, http.StatusNotFound, v2)
	notServed(t, c, "secret/data/app", version(2), http.StatusNotFound, v2)

	v3 := put("v3")
	warm(t, c, "secret/data/app", nil, v3)
	warm(t, c, "secret/metadata/app", nil, `"current_version":3`)
	if err := kv.DeleteMetadata(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	notServed(t, c, "secret/data/app", nil, http.StatusNotFound, v3)
	notServed(t, c, "secret/data/app", version(3), http.StatusNotFound, v3)
	notServed(t, c, "secret/metadata/app", nil, http.StatusNotFound, `"current_version"`)
	// Below the API: the read cache holds neither the metadata nor the
	// version (storage layout of internal/engine/kv: metadata/<path>,
	// versions/<hex SHA-256 of path>/<version in 20 digits>).
	prefix := "logical/" + mountUUID(t, s, "secret/") + "/"
	h := sha256.Sum256([]byte("app"))
	notCached(t, pc, prefix+"metadata/app")
	notCached(t, pc, prefix+"versions/"+hex.EncodeToString(h[:])+"/00000000000000000003")
}

func TestNoStaleKVv1(t *testing.T) {
	t.Parallel()
	s, pc := startCached(t)
	if err := s.client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	c := s.as(t, readerToken(t, s, "kv1-app", "kv1/app"))
	old := uniqueValue(t, "old")
	if _, err := s.client.Logical().Write("kv1/app", map[string]any{"v": old}); err != nil {
		t.Fatal(err)
	}
	warm(t, c, "kv1/app", nil, old)
	cur := uniqueValue(t, "new")
	if _, err := s.client.Logical().Write("kv1/app", map[string]any{"v": cur}); err != nil {
		t.Fatal(err)
	}
	if st, body := readRaw(t, c, "kv1/app", nil); st != http.StatusOK || !strings.Contains(body, cur) || strings.Contains(body, old) {
		t.Fatalf("read after an overwrite: %d %s", st, body)
	}
	warm(t, c, "kv1/app", nil, cur)
	if _, err := s.client.Logical().Delete("kv1/app"); err != nil {
		t.Fatal(err)
	}
	notServed(t, c, "kv1/app", nil, http.StatusNotFound, cur)
	notCached(t, pc, "logical/"+mountUUID(t, s, "kv1/")+"/app")
}

// TestNoStaleTokens: a token is refused on its very next request after it
// was revoked, directly, through its parent or its accessor, after its
// uses ran out, and once its TTL has passed.
func TestNoStaleTokens(t *testing.T) {
	t.Parallel()
	s, _ := startCached(t)
	ctx := context.Background()
	secret := uniqueValue(t, "v")
	if _, err := s.client.KVv2("secret").Put(ctx, "app", map[string]any{"v": secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Sys().PutPolicy("app", `path "secret/data/app" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	tokens := s.client.Auth().Token()
	create := func(c *api.Client, req *api.TokenCreateRequest) *api.SecretAuth {
		t.Helper()
		req.Policies = []string{"app"}
		tok, err := c.Auth().Token().Create(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Auth
	}
	cases := map[string]func(t *testing.T) string{ // returns the token to try after the change
		"revoked": func(t *testing.T) string {
			a := create(s.client, &api.TokenCreateRequest{})
			warm(t, s.as(t, a.ClientToken), "secret/data/app", nil, secret)
			if err := tokens.RevokeTree(a.ClientToken); err != nil {
				t.Fatal(err)
			}
			return a.ClientToken
		},
		"revoked with its parent": func(t *testing.T) string {
			parent := create(s.client, &api.TokenCreateRequest{})
			child := create(s.as(t, parent.ClientToken), &api.TokenCreateRequest{})
			warm(t, s.as(t, parent.ClientToken), "secret/data/app", nil, secret)
			warm(t, s.as(t, child.ClientToken), "secret/data/app", nil, secret)
			if err := tokens.RevokeTree(parent.ClientToken); err != nil {
				t.Fatal(err)
			}
			return child.ClientToken
		},
		"revoked by accessor": func(t *testing.T) string {
			a := create(s.client, &api.TokenCreateRequest{})
			warm(t, s.as(t, a.ClientToken), "secret/data/app", nil, secret)
			if err := tokens.RevokeAccessor(a.Accessor); err != nil {
				t.Fatal(err)
			}
			return a.ClientToken
		},
		"uses ran out": func(t *testing.T) string {
			a := create(s.client, &api.TokenCreateRequest{NumUses: 3})
			warm(t, s.as(t, a.ClientToken), "secret/data/app", nil, secret) // three reads
			return a.ClientToken
		},
		"expired": func(t *testing.T) string {
			a := create(s.client, &api.TokenCreateRequest{TTL: "2s"})
			warm(t, s.as(t, a.ClientToken), "secret/data/app", nil, secret)
			time.Sleep(time.Duration(a.LeaseDuration)*time.Second + 100*time.Millisecond)
			return a.ClientToken
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok := change(t)
			notServed(t, s.as(t, tok), "secret/data/app", nil, http.StatusForbidden, secret)
		})
	}
}

// TestNoStalePolicies: a token whose policy was rewritten to deny or
// deleted, or whose entity lost the policy or was disabled, is refused on
// its very next request.
func TestNoStalePolicies(t *testing.T) {
	t.Parallel()
	s, _ := startCached(t)
	ctx := context.Background()
	secret := uniqueValue(t, "v")
	if _, err := s.client.KVv2("secret").Put(ctx, "app", map[string]any{"v": secret}); err != nil {
		t.Fatal(err)
	}
	sys := s.client.Sys()
	if err := sys.EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	// entityToken logs a new user in and gives its entity the policy.
	entityToken := func(t *testing.T, user, policy string) (tok, entity string) {
		t.Helper()
		if err := sys.PutPolicy(policy, `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		addUser(t, s, user, "default")
		login := userpassLogin(t, s, user)
		if _, err := s.client.Logical().Write("identity/entity/id/"+login.EntityID, map[string]any{"policies": policy}); err != nil {
			t.Fatal(err)
		}
		return login.ClientToken, login.EntityID
	}
	cases := map[string]func(t *testing.T) string{
		"policy rewritten to deny": func(t *testing.T) string {
			tok := readerToken(t, s, "p-deny", "secret/data/app")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if err := sys.PutPolicy("p-deny", `path "secret/data/app" { capabilities = ["deny"] }`); err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"policy rewritten to another path": func(t *testing.T) string {
			tok := readerToken(t, s, "p-move", "secret/data/app")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if err := sys.PutPolicy("p-move", `path "secret/data/other" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"policy deleted": func(t *testing.T) string {
			tok := readerToken(t, s, "p-gone", "secret/data/app")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if err := sys.DeletePolicy("p-gone"); err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"entity policy removed": func(t *testing.T) string {
			tok, id := entityToken(t, "ann", "e-read")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if _, err := s.client.Logical().Write("identity/entity/id/"+id, map[string]any{"policies": "default"}); err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"entity's policy deleted": func(t *testing.T) string {
			tok, _ := entityToken(t, "bob", "e-gone")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if err := sys.DeletePolicy("e-gone"); err != nil {
				t.Fatal(err)
			}
			return tok
		},
		"entity disabled": func(t *testing.T) string {
			tok, id := entityToken(t, "cat", "e-off")
			warm(t, s.as(t, tok), "secret/data/app", nil, secret)
			if _, err := s.client.Logical().Write("identity/entity/id/"+id, map[string]any{"disabled": true}); err != nil {
				t.Fatal(err)
			}
			return tok
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok := change(t)
			notServed(t, s.as(t, tok), "secret/data/app", nil, http.StatusForbidden, secret)
		})
	}
}
