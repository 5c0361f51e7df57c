package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/lease/leasetest"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// TestLeaseOwnerOnlyWithoutSudo: the default policy lets a token look up
// and renew its own leases, not another's (renewing with a small increment
// would cut a workload's credentials short); a batch token acts for its
// parent; sudo reaches every lease.
func TestLeaseOwnerOnlyWithoutSudo(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	if err := s.client.Sys().PutPolicy("creds", `path "db/creds/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	token := func(req *api.TokenCreateRequest) *api.Client {
		sec, err := s.client.Auth().Token().Create(req)
		if err != nil {
			t.Fatal(err)
		}
		return s.as(t, sec.Auth.ClientToken)
	}
	alice, mallory := token(&api.TokenCreateRequest{Policies: []string{"creds"}}), token(&api.TokenCreateRequest{Policies: []string{"creds"}})
	sec, _ := creds(t, alice, "app", "")

	_, err := mallory.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID})
	wantStatus(t, err, 400, "invalid lease")
	for _, path := range []string{"sys/leases/renew", "sys/renew"} {
		_, err = mallory.Logical().Write(path, map[string]any{"lease_id": sec.LeaseID, "increment": 1})
		wantStatus(t, err, 400, "lease not found")
	}
	_, err = mallory.Logical().Write("sys/renew/"+sec.LeaseID, map[string]any{"increment": 1})
	wantStatus(t, err, 403, "permission denied")
	if got, err := s.client.Sys().Lookup(sec.LeaseID); err != nil || num(t, got.Data["ttl"]) < 3000 {
		t.Fatalf("another token cut the lease short: %v %v", got, err)
	}

	if _, err := alice.Sys().Lookup(sec.LeaseID); err != nil {
		t.Fatalf("the owner looks up its lease: %v", err)
	}
	if got, err := alice.Sys().Renew(sec.LeaseID, 600); err != nil || got.LeaseDuration != 600 {
		t.Fatalf("the owner renews its lease: %+v %v", got, err)
	}
	// A batch token's leases are its parent's, so it may renew them.
	batch := token(&api.TokenCreateRequest{Policies: []string{"creds"}, Type: "batch"})
	if _, err := batch.Sys().Renew(sec.LeaseID, 900); err == nil {
		t.Fatal("a batch token of the root renewed alice's lease")
	}
	child, err := alice.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"creds"}, Type: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.as(t, child.Auth.ClientToken).Sys().Renew(sec.LeaseID, 900); err != nil || got.LeaseDuration != 900 {
		t.Fatalf("alice's batch token renews alice's lease: %+v %v", got, err)
	}
	if got, err := s.client.Sys().Renew(sec.LeaseID, 1200); err != nil || got.LeaseDuration != 1200 {
		t.Fatalf("sudo renews any lease: %+v %v", got, err)
	}
	// A policy that names the leases' own paths grants them, whoever
	// obtained them (an application renewing credentials it unwrapped).
	if err := s.client.Sys().PutPolicy("renew-app", `path "sys/leases/renew/db/creds/app/*" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	renewer := token(&api.TokenCreateRequest{Policies: []string{"renew-app"}})
	if got, err := renewer.Logical().Write("sys/leases/renew/"+sec.LeaseID, map[string]any{"increment": 1500}); err != nil || got.LeaseDuration != 1500 {
		t.Fatalf("a policy on the lease's path renews it: %+v %v", got, err)
	}
	_, err = renewer.Logical().Write("sys/leases/renew", map[string]any{"lease_id": sec.LeaseID})
	wantStatus(t, err, 400, "lease not found")
}

// TestLeaseIDInURLAndBodyMustAgree: a policy scoped to the lease IDs in
// the URL (sys/leases/revoke/db/creds/app/*) must not revoke or renew the
// lease a body names instead.
func TestLeaseIDInURLAndBodyMustAgree(t *testing.T) {
	t.Parallel()
	s := startLeases(t, inmem.New(), leasetest.New(), nil, "", nil)
	mine, _ := creds(t, s.client, "app", "")
	other, _ := creds(t, s.client, "other", "")
	if err := s.client.Sys().PutPolicy("app-leases", `path "sys/leases/revoke/db/creds/app/*" { capabilities = ["update"] }
path "sys/revoke/db/creds/app/*" { capabilities = ["update"] }
path "sys/renew/db/creds/app/*" { capabilities = ["update", "sudo"] }
path "sys/leases/renew/db/creds/app/*" { capabilities = ["update", "sudo"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app-leases"}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.as(t, tok.Auth.ClientToken)
	for _, path := range []string{"sys/leases/revoke/", "sys/revoke/", "sys/renew/", "sys/leases/renew/"} {
		_, err := c.Logical().Write(path+mine.LeaseID, map[string]any{"lease_id": other.LeaseID, "increment": 1})
		wantStatus(t, err, 400, "differs from the one in the URL")
	}
	if got, err := s.client.Sys().Lookup(other.LeaseID); err != nil || num(t, got.Data["ttl"]) < 3000 {
		t.Fatalf("the other lease was touched: %v %v", got, err)
	}
	if _, err := c.Logical().Write("sys/leases/revoke/"+mine.LeaseID, map[string]any{"lease_id": mine.LeaseID}); err != nil {
		t.Fatalf("the same ID in both places: %v", err)
	}
	if _, err := s.client.Sys().Lookup(mine.LeaseID); statusOf(err) != 400 {
		t.Fatalf("the lease named in the URL is still there: %v", err)
	}
}

// TestTokenRevokedWhileItsSecretIsMade: a token revoked while a request of
// its is making a secret (a slow database) must not leave that secret
// behind under a lease nobody's revocation will reach.
func TestTokenRevokedWhileItsSecretIsMade(t *testing.T) {
	t.Parallel()
	eng := leasetest.New()
	s := startLeases(t, inmem.New(), eng, nil, "", nil)
	if err := s.client.Sys().PutPolicy("creds", `path "db/creds/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"creds"}})
	if err != nil {
		t.Fatal(err)
	}
	eng.SetAfterIssue(func() {
		if err := s.client.Auth().Token().RevokeTree(tok.Auth.ClientToken); err != nil {
			t.Error(err)
		}
	})
	_, err = s.as(t, tok.Auth.ClientToken).Logical().Read("db/creds/app")
	eng.SetAfterIssue(nil)
	wantStatus(t, err, 403, "revoked while the request was served")
	if n := eng.LiveCount(); n != 0 {
		t.Fatalf("%d logins outlived the token revoked while they were made", n)
	}
	if list, err := s.client.Logical().List("sys/leases/lookup/db/creds/app/"); err != nil || list != nil {
		t.Fatalf("a lease is left: %+v %v", list, err)
	}
}

// TestDisableWaitsForSecretsBeingMade: a mount disabled while a request of
// its is making a secret (a slow database) waits for that request, so its
// lease is registered and revoked with the others; before, the
// registration failed with the mount gone and the secret lived on with no
// lease at all.
func TestDisableWaitsForSecretsBeingMade(t *testing.T) {
	t.Parallel()
	eng := leasetest.New()
	s := startLeases(t, inmem.New(), eng, nil, "", nil)
	done := make(chan error, 1)
	eng.SetAfterIssue(func() {
		go func() { done <- s.client.Sys().Unmount("db") }()
		// Unfixed, the mount is gone from the table while this request
		// is still in the engine; fixed, the disable waits for it.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if mounts, err := s.client.Sys().ListMounts(); err == nil && mounts["db/"] == nil {
				return
			}
		}
	})
	_, readErr := s.client.Logical().Read("db/creds/app")
	eng.SetAfterIssue(nil)
	if err := <-done; err != nil {
		t.Fatalf("disable: %v", err)
	}
	if n := eng.LiveCount(); n != 0 {
		t.Fatalf("a login made while its mount was disabled outlived it (read: %v)", readErr)
	}
	if sec, err := s.client.Logical().Read("db/creds/app"); sec != nil || err != nil { // the client's 404
		t.Fatalf("the disabled mount still answers: %v %v", sec, err)
	}
}

// TestRemountWaitsForSecretsBeingMade: a mount moved while a request of
// its is making a secret waits for that request, whose lease then moves
// with the others; before, the registration failed with no mount at the
// old path and the secret lived on with no lease.
func TestRemountWaitsForSecretsBeingMade(t *testing.T) {
	t.Parallel()
	eng := leasetest.New()
	s := startLeases(t, inmem.New(), eng, nil, "", nil)
	done := make(chan error, 1)
	eng.SetAfterIssue(func() {
		go func() {
			_, err := s.client.Logical().Write("sys/remount", map[string]any{"from": "db", "to": "moved"})
			done <- err
		}()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if mounts, err := s.client.Sys().ListMounts(); err == nil && mounts["moved/"] != nil {
				return
			}
		}
	})
	sec, readErr := s.client.Logical().Read("db/creds/app")
	eng.SetAfterIssue(nil)
	if err := <-done; err != nil {
		t.Fatalf("remount: %v", err)
	}
	if readErr != nil || sec == nil {
		t.Fatalf("the request in flight failed: %v", readErr)
	}
	moved := "moved/" + strings.TrimPrefix(sec.LeaseID, "db/")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := s.client.Sys().Lookup(moved); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the lease of the request in flight did not move: %v", err)
		}
	}
	if err := s.client.Sys().Revoke(moved); err != nil || eng.LiveCount() != 0 {
		t.Fatalf("revoke the moved lease: %v, %d live", err, eng.LiveCount())
	}
}
