package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/lease/leasetest"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// leaseServer is a server whose registry also has the leasetest engine
// (registered here, never in production), mounted at db/.
type leaseServer struct {
	*server
	eng  *leasetest.Engine
	logs *syncBuffer
}

// startLeases starts a sealed server on p with the leasetest engine, lets
// tune adjust the core's configuration, then initialises (unless keys are
// given), unseals and mounts db/ on first start.
func startLeases(t testing.TB, p physical.Backend, eng *leasetest.Engine, keys []string, root string, tune func(*core.Config)) *leaseServer {
	t.Helper()
	engines := maps.Clone(registry.Engines())
	engines[leasetest.Type] = eng.Factory
	logs := &syncBuffer{}
	conf := core.Config{
		Physical: p, StorageType: "inmem", Version: "test", ClusterName: "e2e",
		Engines: engines, AuthMethods: registry.AuthMethods(),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tune != nil {
		tune(&conf)
	}
	co := core.New(conf)
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &leaseServer{server: &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}, eng: eng, logs: logs}
	first := keys == nil
	if first {
		init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		keys, root = init.Keys, init.RootToken
	}
	s.keys, s.root = keys, root
	if _, err := s.client.Sys().Unseal(keys[0]); err != nil {
		t.Fatal(err)
	}
	s.client.SetToken(root)
	if first {
		if err := s.client.Sys().Mount("db", &api.MountInput{Type: leasetest.Type}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// creds reads a leased login from db/creds/<role> with c.
func creds(t *testing.T, c *api.Client, role, query string) (*api.Secret, string) {
	t.Helper()
	path := "db/creds/" + role
	var q map[string][]string
	if query != "" {
		q = map[string][]string{}
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			q[k] = []string{v}
		}
	}
	sec, err := c.Logical().ReadWithData(path, q)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	user, _ := sec.Data["username"].(string)
	return sec, user
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	if err != nil {
		t.Fatalf("%v is not a number", v)
	}
	return n
}

// TestLeaseLifecycle: a leased secret comes with its lease in the
// envelope; lookup, renew (capped) and revoke answer as Vault's do, through
// the OpenBao client and the legacy paths.
func TestLeaseLifecycle(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	sec, user := creds(t, s.client, "app", "max_ttl=3h")
	if !strings.HasPrefix(sec.LeaseID, "db/creds/app/") || len(sec.LeaseID) != len("db/creds/app/")+24 || sec.LeaseDuration != 3600 || !sec.Renewable {
		t.Fatalf("envelope: id %q duration %d renewable %v", sec.LeaseID, sec.LeaseDuration, sec.Renewable)
	}
	if _, leaked := sec.Data["secret_type"]; leaked || sec.Data["password"] == nil {
		t.Fatalf("data: %v", sec.Data)
	}
	marker := s.eng.Marker(user)

	look, err := s.client.Sys().Lookup(sec.LeaseID)
	if err != nil {
		t.Fatal(err)
	}
	d := look.Data
	if d["id"] != sec.LeaseID || d["renewable"] != true || d["last_renewal"] != nil || num(t, d["ttl"]) < 3590 || num(t, d["ttl"]) > 3600 {
		t.Fatalf("lookup: %v", d)
	}
	issued, err1 := time.Parse(time.RFC3339Nano, d["issue_time"].(string))
	expires, err2 := time.Parse(time.RFC3339Nano, d["expire_time"].(string))
	if err1 != nil || err2 != nil || expires.Sub(issued) != time.Hour {
		t.Fatalf("times: %v %v %v %v", d["issue_time"], d["expire_time"], err1, err2)
	}

	ren, err := s.client.Sys().Renew(sec.LeaseID, 7200)
	if err != nil || ren.LeaseID != sec.LeaseID || ren.LeaseDuration != 7200 || !ren.Renewable {
		t.Fatalf("renew: %+v %v", ren, err)
	}
	ren, err = s.client.Sys().Renew(sec.LeaseID, 5*3600)
	if err != nil || ren.LeaseDuration > 3*3600 || ren.LeaseDuration < 3*3600-10 || len(ren.Warnings) != 1 {
		t.Fatalf("renew past the secret's max_ttl: %+v %v", ren, err)
	}
	look, _ = s.client.Sys().Lookup(sec.LeaseID)
	if look.Data["last_renewal"] == nil {
		t.Fatal("lookup does not show the renewal")
	}
	for what, v := range map[string]any{"read": sec, "lookup": look, "renew": ren} {
		if b, _ := json.Marshal(v); marker == "" || bytes.Contains(b, []byte(marker)) {
			t.Fatalf("the %s response carries the lease's internal data", what)
		}
	}
	// The legacy path, with the ID in the URL.
	if st, body := call(t, s.client, http.MethodPut, "sys/renew/"+sec.LeaseID, map[string]any{"increment": "1h"}); st != 200 || body["lease_duration"] != 3600.0 || body["lease_id"] != sec.LeaseID {
		t.Fatalf("sys/renew/<id>: %d %v", st, body)
	}

	if err := s.client.Sys().Revoke(sec.LeaseID); err != nil {
		t.Fatal(err)
	}
	if s.eng.Live(user) {
		t.Fatal("revoke did not reach the engine")
	}
	if _, err := s.client.Sys().Lookup(sec.LeaseID); statusOf(err) != 400 || !strings.Contains(err.Error(), "invalid lease") {
		t.Fatalf("lookup after revoke: %v", err)
	}

	// The legacy revoke path, and Vault CLI's default: queued (202, no
	// body), then revoked by the expiry loop.
	sec2, user2 := creds(t, s.client, "app", "")
	sec3, user3 := creds(t, s.client, "app", "")
	if st, _ := call(t, s.client, http.MethodPut, "sys/revoke/"+sec2.LeaseID, nil); st != http.StatusNoContent || s.eng.Live(user2) {
		t.Fatalf("sys/revoke/<id>: %d live %v", st, s.eng.Live(user2))
	}
	resp := s.raw(t, http.MethodPut, "sys/leases/revoke/"+sec3.LeaseID, map[string]any{"sync": false})
	if resp.status != http.StatusAccepted || resp.body != nil {
		t.Fatalf("queued revoke: %d %v", resp.status, resp.body)
	}
	waitFor(t, "the queued revocation", func() bool { return !s.eng.Live(user3) })
}

// TestLeaseExpiresOnItsOwn: nobody asks; the server revokes the secret
// when its lease ends.
func TestLeaseExpiresOnItsOwn(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	sec, user := creds(t, s.client, "app", "ttl=1s")
	if sec.LeaseDuration != 1 {
		t.Fatalf("lease_duration %d", sec.LeaseDuration)
	}
	waitFor(t, "the lease to expire", func() bool { return !s.eng.Live(user) })
	if _, err := s.client.Sys().Lookup(sec.LeaseID); statusOf(err) != 400 {
		t.Fatalf("an expired lease still looks up: %v", err)
	}
}

// TestTokenRevocationRevokesItsLeases: a service token's leases go with
// it; a batch token's go with its parent (Vault ties them there) and never
// outlive the batch token; a token used up by the read loses its lease too.
func TestTokenRevocationRevokesItsLeases(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	if err := s.client.Sys().PutPolicy("creds", `path "db/creds/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	tokens := s.client.Auth().Token()
	newToken := func(c *api.Client, req *api.TokenCreateRequest) string {
		t.Helper()
		req.Policies = []string{"creds"}
		sec, err := c.Auth().Token().Create(req)
		if err != nil {
			t.Fatal(err)
		}
		return sec.Auth.ClientToken
	}

	svc := newToken(s.client, &api.TokenCreateRequest{TTL: "1h"})
	_, svcUser := creds(t, s.as(t, svc), "app", "")
	parent := newToken(s.client, &api.TokenCreateRequest{TTL: "1h"})
	batch := newToken(s.as(t, parent), &api.TokenCreateRequest{Type: "batch", TTL: "1h"})
	_, batchUser := creds(t, s.as(t, batch), "app", "")
	orphanBatch := newToken(s.client, &api.TokenCreateRequest{Type: "batch", TTL: "2s", NoParent: true})
	shortSec, shortUser := creds(t, s.as(t, orphanBatch), "app", "ttl=1h")
	once := newToken(s.client, &api.TokenCreateRequest{TTL: "1h", NumUses: 1})
	_, onceUser := creds(t, s.as(t, once), "app", "")
	_, keepUser := creds(t, s.client, "app", "")

	if shortSec.LeaseDuration > 2 {
		t.Fatalf("a lease outlives its orphan batch token: %d s", shortSec.LeaseDuration)
	}
	if err := tokens.RevokeTree(svc); err != nil {
		t.Fatal(err)
	}
	if err := tokens.RevokeTree(parent); err != nil {
		t.Fatal(err)
	}
	for what, user := range map[string]string{
		"service token": svcUser, "batch token's parent": batchUser, "orphan batch token's end": shortUser, "used-up token": onceUser,
	} {
		waitFor(t, "the lease of the "+what, func() bool { return !s.eng.Live(user) })
	}
	if !s.eng.Live(keepUser) {
		t.Fatal("the root token's lease went too")
	}
}

// TestDisableRevokesLeasesFirst: disabling a mount revokes its leases
// through its backend before the backend goes; when that fails the mount
// stays, and revoke-force is the way out.
func TestDisableRevokesLeasesFirst(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	_, u1 := creds(t, s.client, "app", "")
	_, u2 := creds(t, s.client, "other", "")
	s.eng.FailRevocations(leasetest.ErrDown)
	err := s.client.Sys().Unmount("db")
	if statusOf(err) != 400 || !strings.Contains(err.Error(), "revoke-force") || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("disable with failing revocations: %v", err)
	}
	if _, err := s.client.Logical().Read("db/creds/app"); err != nil {
		t.Fatalf("the mount did not stay: %v", err)
	}
	s.eng.FailRevocations(nil)
	if err := s.client.Sys().Unmount("db"); err != nil {
		t.Fatal(err)
	}
	if s.eng.LiveCount() != 0 || s.eng.Live(u1) || s.eng.Live(u2) {
		t.Fatalf("%d logins outlive their mount", s.eng.LiveCount())
	}
	if list, err := s.client.Logical().List("sys/leases/lookup/"); err != nil || list != nil {
		t.Fatalf("leases left: %+v %v", list, err)
	}
}

// TestFailedRevocationIsRetriedAndVisible: a revocation that fails stays,
// is retried with backoff, listed, counted and logged (without the
// secret), until the mount recovers; revoke-force removes one that never
// will.
func TestFailedRevocationIsRetriedAndVisible(t *testing.T) {
	t.Parallel()
	fast := func(c *core.Config) { c.LeaseRetryBase, c.LeaseRetryMax = 50*time.Millisecond, 200*time.Millisecond }
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", fast)
	s.eng.FailRevocations(leasetest.ErrDown)
	stuck, stuckUser := creds(t, s.client, "stuck", "ttl=1s")
	_, healUser := creds(t, s.client, "heal", "ttl=1s")

	var leases []any
	waitFor(t, "two failing leases", func() bool {
		st, body := failing(t, s.client, "sys/leases")
		if st != 200 {
			return false
		}
		data := body["data"].(map[string]any)
		leases, _ = data["leases"].([]any)
		return data["lease_count"] == 2.0
	})
	first := leases[0].(map[string]any)
	if !strings.HasPrefix(first["mount_id"].(string), "leasetest_") || first["error"] != leasetest.ErrDown.Error() || first["attempts"].(float64) < 1 {
		t.Fatalf("failing lease: %v", first)
	}
	st, body := failing(t, s.client, "sys/leases/count")
	if data, _ := body["data"].(map[string]any); st != 200 || data["lease_count"] != 2.0 || len(data["counts"].(map[string]any)) != 1 {
		t.Fatalf("count: %d %v", st, body)
	}
	waitFor(t, "retries", func() bool {
		st, body := failing(t, s.client, "sys/leases")
		l := body["data"].(map[string]any)["leases"].([]any)
		return st == 200 && l[0].(map[string]any)["attempts"].(float64) >= 3
	})
	logs := s.logs.String()
	if !strings.Contains(logs, "lease revocation failed") || !strings.Contains(logs, stuck.LeaseID) {
		t.Fatal("failed revocations are not logged")
	}
	if strings.Contains(logs, stuckUser) || strings.Contains(logs, "pw-") {
		t.Fatal("the log holds a lease's secret or internal data")
	}

	if err := s.client.Sys().RevokeForce(stuck.LeaseID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Sys().Lookup(stuck.LeaseID); statusOf(err) != 400 {
		t.Fatalf("revoke-force left the lease: %v", err)
	}
	s.eng.FailRevocations(nil)
	waitFor(t, "the retry once the mount recovers", func() bool { return !s.eng.Live(healUser) })
	waitFor(t, "an empty failing list", func() bool {
		st, body := failing(t, s.client, "sys/leases/count")
		return st == 200 && body["data"].(map[string]any)["lease_count"] == 0.0
	})
	if !s.eng.Live(stuckUser) {
		t.Fatal("revoke-force is not supposed to reach the engine")
	}
}

// TestLeaseSurvivesRestart: on file storage, a lease issued before the
// server stops is still there after it starts and unseals again, and
// expires on time without anyone asking.
func TestLeaseSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	eng := leasetest.New()
	p, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := startLeases(t, p, eng, nil, "", nil)
	sec, user := creds(t, s.client, "app", "ttl=4s")
	long, longUser := creds(t, s.client, "app", "ttl=1h")
	look, _ := s.client.Sys().Lookup(sec.LeaseID)
	expires, _ := time.Parse(time.RFC3339Nano, look.Data["expire_time"].(string))
	if err := s.core.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// The lease's internal data is in the file, encrypted: never in the clear.
	raw, err := os.ReadFile(filepath.Join(dir, "coffer.db"))
	if err != nil || len(raw) == 0 {
		t.Fatal(err)
	}
	for _, u := range []string{user, longUser} {
		if bytes.Contains(raw, []byte(eng.Marker(u))) {
			t.Fatal("a lease's internal data is in the database file in plaintext")
		}
	}

	p2, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	s2 := startLeases(t, p2, eng, s.keys, s.root, nil)
	if _, err := s2.client.Sys().Lookup(long.LeaseID); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	waitFor(t, "the pre-restart lease to expire", func() bool { return !eng.Live(user) })
	if now := time.Now(); now.Before(expires) {
		t.Fatalf("revoked at %s, before its expiry %s", now, expires)
	}
	if !eng.Live(longUser) {
		t.Fatal("a lease not yet due was revoked")
	}
	if ren, err := s2.client.Sys().Renew(long.LeaseID, 60); err != nil || ren.LeaseDuration != 60 {
		t.Fatalf("renew after restart: %+v %v", ren, err)
	}
}

// failing GETs path?type=irrevocable, Vault's query for the leases whose
// revocation failed, returning the status and decoded body.
func failing(t *testing.T, c *api.Client, path string) (int, map[string]any) {
	t.Helper()
	r := c.NewRequest(http.MethodGet, "/v1/"+path)
	r.Params.Set("type", "irrevocable")
	resp, err := c.RawRequest(r)
	if resp == nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, out
}

// TestLeaseEndpointsAnswerAsVault checks status codes, messages and the
// sudo paths of sys/leases/* and the legacy paths, byte for byte where the
// client hides them.
func TestLeaseEndpointsAnswerAsVault(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	sec, _ := creds(t, s.client, "app", "")
	if err := s.client.Sys().PutPolicy("leases", `path "sys/leases/*" { capabilities = ["create", "read", "update", "list"] }
path "sys/leases" { capabilities = ["read"] }
path "sys/revoke-prefix/*" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	nosudo, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"leases"}})
	if err != nil {
		t.Fatal(err)
	}
	dflt, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	root, limited, basic := s.client, s.as(t, nosudo.Auth.ClientToken), s.as(t, dflt.Auth.ClientToken)
	cases := map[string]struct {
		c      *api.Client
		method string
		path   string
		body   map[string]any
		status int
		msg    string
	}{
		"lookup":                      {root, "PUT", "sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID}, 200, ""},
		"lookup of another's lease":   {basic, "PUT", "sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID}, 400, "invalid lease"},
		"lookup without id":           {basic, "PUT", "sys/leases/lookup", map[string]any{}, 400, "lease_id must be specified"},
		"lookup of nothing":           {basic, "PUT", "sys/leases/lookup", map[string]any{"lease_id": "db/creds/app/nope"}, 400, "invalid lease"},
		"lookup of a traversal":       {basic, "PUT", "sys/leases/lookup", map[string]any{"lease_id": "../../core/mounts"}, 400, "invalid lease"},
		"renew by the default policy": {basic, "PUT", "sys/leases/renew", map[string]any{"lease_id": sec.LeaseID}, 400, "lease not found"},
		"renew with sudo":             {root, "PUT", "sys/leases/renew", map[string]any{"lease_id": sec.LeaseID}, 200, ""},
		"renew of nothing":            {basic, "PUT", "sys/leases/renew", map[string]any{"lease_id": "db/creds/app/nope"}, 400, "lease not found"},
		"renew without id":            {basic, "PUT", "sys/renew", map[string]any{}, 400, "lease_id must be specified"},
		"renew, bad increment":        {basic, "PUT", "sys/leases/renew", map[string]any{"lease_id": sec.LeaseID, "increment": "soon"}, 400, "increment"},
		"revoke needs a grant":        {basic, "PUT", "sys/leases/revoke", map[string]any{"lease_id": "db/creds/app/nope"}, 403, "permission denied"},
		"revoke of nothing":           {limited, "PUT", "sys/leases/revoke", map[string]any{"lease_id": "db/creds/app/nope"}, 204, ""},
		"revoke-prefix needs sudo":    {limited, "PUT", "sys/leases/revoke-prefix/db/creds", nil, 403, "sudo"},
		"revoke-force needs sudo":     {limited, "PUT", "sys/leases/revoke-force/db/creds", nil, 403, "sudo"},
		"legacy revoke-prefix sudo":   {limited, "PUT", "sys/revoke-prefix/db/creds", nil, 403, "sudo"},
		"list needs sudo":             {limited, "LIST", "sys/leases/lookup/db/", nil, 403, "sudo"},
		"list":                        {root, "LIST", "sys/leases/lookup/db/creds/app", nil, 200, ""},
		"list of nothing":             {root, "LIST", "sys/leases/lookup/nothing/", nil, 404, ""},
		"failing list needs sudo":     {limited, "GET", "sys/leases?type=irrevocable", nil, 403, "sudo"},
		"failing count":               {limited, "GET", "sys/leases/count?type=irrevocable", nil, 200, ""},
		"failing, other type":         {root, "GET", "sys/leases?type=other", nil, 404, ""},
		"failing, bad limit":          {root, "GET", "sys/leases?type=irrevocable&limit=0", nil, 400, "limit must be 'none' or a positive integer"},
		"revoke-prefix of nothing":    {root, "PUT", "sys/leases/revoke-prefix/none", nil, 204, ""},
		"revoke-prefix queued":        {root, "PUT", "sys/leases/revoke-prefix/none", map[string]any{"sync": false}, 202, ""},
		"tidy":                        {root, "PUT", "sys/leases/tidy", nil, 202, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path, query, _ := strings.Cut(tc.path, "?")
			r := tc.c.NewRequest(tc.method, "/v1/"+path)
			for _, kv := range strings.Split(query, "&") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					r.Params.Set(k, v)
				}
			}
			if tc.body != nil {
				_ = r.SetJSONBody(tc.body)
			}
			resp, err := tc.c.RawRequest(r)
			if resp == nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			if tc.msg != "" && !strings.Contains(errorsOf(body), tc.msg) {
				t.Fatalf("errors %q, want %q", errorsOf(body), tc.msg)
			}
			if tc.status == 202 && tc.path != "sys/leases/tidy" && body != nil {
				t.Fatalf("a queued revocation has a body: %v", body)
			}
		})
	}
	list, err := root.Logical().List("sys/leases/lookup/db/creds/app/")
	if err != nil || len(list.Data["keys"].([]any)) != 1 || "db/creds/app/"+list.Data["keys"].([]any)[0].(string) != sec.LeaseID {
		t.Fatalf("list: %+v %v", list, err)
	}
	tidy, err := root.Logical().Write("sys/leases/tidy", nil)
	if err != nil || len(tidy.Warnings) != 1 || !strings.Contains(strings.ToLower(tidy.Warnings[0]), "tidy operation") {
		t.Fatalf("tidy: %+v %v", tidy, err)
	}
	if err := root.Sys().RevokePrefix("db/creds"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sys().Lookup(sec.LeaseID); statusOf(err) != 400 {
		t.Fatalf("revoke-prefix left the lease: %v", err)
	}
}

// TestLeaseManagerStartsAndStopsOnDemand: stopped (as on a standby),
// nothing expires; started again, what came due meanwhile is revoked.
func TestLeaseManagerStartsAndStopsOnDemand(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	m := s.core.LeaseManager()
	m.Stop()
	_, user := creds(t, s.client, "app", "ttl=1s")
	time.Sleep(1500 * time.Millisecond) // past the expiry; nothing may happen
	if !s.eng.Live(user) {
		t.Fatal("a stopped lease manager revoked a lease")
	}
	m.Start(context.Background())
	waitFor(t, "the lease that came due while stopped", func() bool { return !s.eng.Live(user) })
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if s.core.LeaseManager() != nil || m.Running() {
		t.Fatal("the lease manager runs while sealed")
	}
}

// TestRemountMovesLeases: sys/remount moves a mount's leases with it: they
// answer under the new path, renew and revoke through the moved backend,
// and still expire.
func TestRemountMovesLeases(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	long, longUser := creds(t, s.client, "app", "")
	_, shortUser := creds(t, s.client, "app", "ttl=2s")
	if err := s.client.Sys().Remount("db", "moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Sys().Lookup(long.LeaseID); statusOf(err) != 400 {
		t.Fatalf("the old lease ID still answers: %v", err)
	}
	newID := "moved/" + strings.TrimPrefix(long.LeaseID, "db/")
	if ren, err := s.client.Sys().Renew(newID, 600); err != nil || ren.LeaseID != newID || ren.LeaseDuration != 600 {
		t.Fatalf("renew after the move: %+v %v", ren, err)
	}
	waitFor(t, "the moved short lease to expire", func() bool { return !s.eng.Live(shortUser) })
	if err := s.client.Sys().Revoke(newID); err != nil || s.eng.Live(longUser) {
		t.Fatalf("revoke after the move: %v, live %v", err, s.eng.Live(longUser))
	}
}
