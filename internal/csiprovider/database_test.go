package csiprovider_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

// enableDatabase mounts the database engine on c against the real
// PostgreSQL db, with role "app" (leases of ttl).
func enableDatabase(t testing.TB, c *coffer, db *dbtest.Server, ttl string) {
	t.Helper()
	must(t, c.Root.Sys().Mount("database", &api.MountInput{Type: "database"}))
	user, pw := db.NewRoot(t)
	c.write(t, "database/config/db", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": db.TemplateURL(),
		"username": user, "password": pw, "allowed_roles": []string{"app"},
	})
	c.write(t, "database/roles/app", map[string]any{
		"db_name": "db", "default_ttl": ttl, "max_ttl": "24h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	})
}

// clock is a settable time for the provider's caches.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time                             { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration)                    { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock() *clock                                      { return &clock{t: time.Now()} }
func withPod(a, uid string) string                          { return strings.Replace(a, `"pod-uid-1"`, `"`+uid+`"`, 1) }
func userOf(t testing.TB, r *v1alpha1.MountResponse) string { return files(t, r)["db/username"] }

const dbObjects = `
- objectName: url
  objectAlias: db/url
  secretPath: database/creds/app
  secretKey: connection_url
- objectName: username
  objectAlias: db/username
  secretPath: database/creds/app
  secretKey: username
- objectName: password
  objectAlias: db/password
  secretPath: database/creds/app
  secretKey: password
- objectName: api-key
  secretPath: secret/data/app/api
  secretKey: key
`

// TestMountDatabase mounts a dynamic PostgreSQL credential as a ready
// connection URL plus its parts (one credential for all three files),
// connects with the URL, and checks rotation calls: the pod's credential
// is reused while its lease is valid and the pod holds it, and a new one is
// minted when the lease nears its end, when the pod holds something else,
// on a first mount, and for another pod.
func TestMountDatabase(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	c := startCoffer(t, false)
	enableDatabase(t, c, db, "1h")
	c.putKV(t, "app/api", map[string]any{"key": "k-1"})
	clk := newClock()
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{Now: clk.now}))
	a := attrs(t, kvParams(c, dbObjects), map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:app", "coffer")})
	mount := func(attr string, cur []*v1alpha1.ObjectVersion) *v1alpha1.MountResponse {
		t.Helper()
		r, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attr, Permission: "420", CurrentObjectVersion: cur})
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		db.CleanupUsers(t, userOf(t, r))
		return r
	}

	r1 := mount(a, nil)
	f := files(t, r1)
	user, url := f["db/username"], f["db/url"]
	if user == "" || !strings.Contains(url, user) || !strings.Contains(url, f["db/password"]) || f["api-key"] != "k-1" {
		t.Fatalf("files = %v", f)
	}
	if err := db.Login(url); err != nil {
		t.Fatalf("connect with the mounted URL: %v", err)
	}

	r2 := mount(a, current(r1))
	if userOf(t, r2) != user || versions(r2)["db/url"] != versions(r1)["db/url"] {
		t.Fatalf("a rotation call minted a new credential (%s → %s) while the lease is valid", user, userOf(t, r2))
	}
	// The cached credential is not handed to a token that does not log in.
	forged := attrs(t, kvParams(c, dbObjects), map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:intruder", "coffer")})
	if _, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: forged, Permission: "420", CurrentObjectVersion: current(r2)}); csiprovider.CodeOf(err) != csiprovider.CodePermissionDenied {
		t.Fatalf("a rotation call with a token that cannot log in: %v", err)
	}
	stale := []*v1alpha1.ObjectVersion{{Id: "db/url", Version: "0000"}, {Id: "db/username", Version: versions(r1)["db/username"]}}
	if r := mount(a, stale); userOf(t, r) == user {
		t.Fatal("a pod holding another version got the cached credential")
	}
	if r := mount(withPod(a, "pod-uid-2"), current(r1)); userOf(t, r) == user {
		t.Fatal("another pod got the first pod's credential")
	}
	r5 := mount(a, nil)
	if userOf(t, r5) == user {
		t.Fatal("a first mount reused a credential")
	}
	// The pod now holds r5's credential (the driver wrote it): rotation
	// calls keep it, and the other pod's mount changed nothing for this one.
	user = userOf(t, r5)
	r3 := mount(a, current(r5))
	if userOf(t, r3) != user {
		t.Fatalf("rotation after a new mount: %s, want %s", userOf(t, r3), user)
	}
	clk.advance(55 * time.Minute) // the lease (1h) nears its end: a tenth is left
	r4 := mount(a, current(r3))
	if u := userOf(t, r4); u == user || versions(r4)["db/url"] == versions(r3)["db/url"] || versions(r4)["api-key"] != versions(r3)["api-key"] {
		t.Fatalf("near the end of the lease: user %s, versions %v → %v", u, versions(r3), versions(r4))
	}
	if err := db.Login(files(t, r4)["db/url"]); err != nil {
		t.Fatalf("connect with the new URL: %v", err)
	}
}
