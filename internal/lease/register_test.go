package lease

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
)

var leaseIDRE = regexp.MustCompile(`^db/creds/app/[0-9A-Za-z]{24}$`)

func TestRegisterFillsInTheLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sec, user := h.issue("creds", Owner{Token: "70c1"}, nil)
	if !leaseIDRE.MatchString(sec.LeaseID) {
		t.Fatalf("lease ID %q is not <mount>/<path>/<24 base62>", sec.LeaseID)
	}
	if sec.TTL != time.Hour || !sec.Renewable {
		t.Fatalf("ttl %s renewable %v, want 1h true", sec.TTL, sec.Renewable)
	}
	info, err := h.m.Lookup(context.Background(), sec.LeaseID)
	if err != nil || info == nil {
		t.Fatalf("lookup: %v %v", info, err)
	}
	if !info.IssueTime.Equal(t0) || !info.ExpireTime.Equal(t0.Add(time.Hour)) || info.TTL != time.Hour || !info.Renewable || !info.LastRenewal.IsZero() {
		t.Fatalf("lookup: %+v", info)
	}
	want := []string{
		"exp/" + indexName(t0.Add(time.Hour), flagExpiry, sec.LeaseID),
		"id/" + sec.LeaseID,
		tokenKey("70c1", sec.LeaseID),
	}
	if got := h.keys(); !slices.Equal(got, want) {
		t.Fatalf("stored keys %q, want %q", got, want)
	}
	e, _ := h.m.load(context.Background(), sec.LeaseID)
	if e.Internal["username"] != user || e.Internal[logical.SecretTypeKey] != "creds" {
		t.Fatalf("internal data not kept: %v", e.Internal)
	}
	if h.m.Count() != 1 {
		t.Fatalf("queue holds %d", h.m.Count())
	}
}

func TestRegisterCapsTheTTL(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		query map[string]any
		owner Owner
		want  time.Duration
	}{
		"engine default":             {nil, Owner{}, time.Hour},
		"engine ttl":                 {map[string]any{"ttl": "2h"}, Owner{}, 2 * time.Hour},
		"secret max_ttl":             {map[string]any{"ttl": "2h", "max_ttl": "90m"}, Owner{}, 90 * time.Minute},
		"mount max_lease_ttl":        {map[string]any{"ttl": "30h"}, Owner{}, 24 * time.Hour},
		"batch token ends sooner":    {map[string]any{"ttl": "2h"}, Owner{Expire: t0.Add(10 * time.Minute)}, 10 * time.Minute},
		"batch token ends later":     {map[string]any{"ttl": "2h"}, Owner{Expire: t0.Add(10 * time.Hour)}, 2 * time.Hour},
		"secret max above mount max": {map[string]any{"ttl": "30h", "max_ttl": "40h"}, Owner{}, 24 * time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sec, _ := h.issue("creds", tc.owner, tc.query)
			if sec.TTL != tc.want {
				t.Fatalf("ttl %s, want %s", sec.TTL, tc.want)
			}
		})
	}
}

func TestRegisterCapsByServerMax(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mounts.mounts["db/"].info.MaxTTL = 100 * time.Hour // above the server's 48h
	sec, _ := h.issue("creds", Owner{}, map[string]any{"ttl": "60h"})
	if sec.TTL != 48*time.Hour {
		t.Fatalf("ttl %s, want the server max 48h", sec.TTL)
	}
}

func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	typed := &logical.Secret{InternalData: map[string]any{logical.SecretTypeKey: "creds"}}
	cases := map[string]struct {
		path string
		sec  *logical.Secret
		want error
	}{
		"untyped secret": {"db/creds/app", &logical.Secret{TTL: time.Hour}, ErrNotLeased},
		"no mount":       {"nowhere/creds/app", typed, ErrNoMount},
		"unclean path":   {"db/../creds", typed, ErrBadID},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := h.m.Register(context.Background(), tc.path, Owner{}, tc.sec); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if len(h.keys()) != 0 {
		t.Fatalf("a refused registration stored %q", h.keys())
	}
}

// failingTxn is storage whose transactions fail.
type failingTxn struct{ *logical.InmemStorage }

func (failingTxn) Transaction(context.Context, []logical.TxnOp) error { return errors.New("disk full") }

func TestRegisterRevokesWhatItCannotStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.m = h.newManager(failingTxn{logical.NewInmemStorage()})
	resp, err := h.mounts.HandleLeaseRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "db/creds/app"})
	if err != nil {
		t.Fatal(err)
	}
	user := resp.Data["username"].(string)
	if err := h.m.Register(context.Background(), "db/creds/app", Owner{}, resp.Secret); err == nil {
		t.Fatal("registration succeeded on failing storage")
	}
	if h.eng.Live(user) {
		t.Fatal("the secret outlives its lost lease record")
	}
	if resp.Secret.LeaseID != "" {
		t.Fatalf("a lease ID was handed out: %q", resp.Secret.LeaseID)
	}
}

func TestOwnerOf(t *testing.T) {
	t.Parallel()
	exp := t0.Add(time.Hour)
	cases := map[string]struct {
		te   *token.Entry
		want Owner
	}{
		"no token":       {nil, Owner{}},
		"service token":  {&token.Entry{Hash: "h1", ParentHash: "p1", Type: token.TypeService, ExpireTime: exp}, Owner{Token: "h1"}},
		"root token":     {&token.Entry{Hash: "root", Policies: []string{"root"}}, Owner{Token: "root"}},
		"batch token":    {&token.Entry{ParentHash: "p1", Type: token.TypeBatch, ExpireTime: exp}, Owner{Token: "p1", Expire: exp}},
		"orphan batch":   {&token.Entry{Type: token.TypeBatch, Orphan: true, ExpireTime: exp}, Owner{Expire: exp}},
		"untyped stored": {&token.Entry{Hash: "h2"}, Owner{Token: "h2"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := OwnerOf(tc.te); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRandomSuffix(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		s, err := randomSuffix()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 24 || strings.Trim(s, idChars) != "" || seen[s] {
			t.Fatalf("bad or repeated suffix %q", s)
		}
		seen[s] = true
	}
}

// TestRegisterForARevokedToken: a token revoked while its secret was being
// made (its revocation listed its leases before this one was stored) gets
// no lease: the secret is revoked at once and the request refused.
func TestRegisterForARevokedToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.gone["dead"] = true
	resp, err := h.mounts.HandleLeaseRequest(context.Background(), readReq("db/creds/app", nil))
	if err != nil {
		t.Fatal(err)
	}
	user := resp.Data["username"].(string)
	err = h.m.Register(context.Background(), "db/creds/app", Owner{Token: "dead"}, resp.Secret)
	if !errors.Is(err, logical.ErrPermissionDenied) || resp.Secret.LeaseID != "" {
		t.Fatalf("register for a revoked token: %v, lease %q", err, resp.Secret.LeaseID)
	}
	if h.eng.Live(user) || len(h.keys()) != 0 || h.m.Count() != 0 {
		t.Fatalf("the secret outlived its token: live %v, keys %q", h.eng.Live(user), h.keys())
	}
}
