package userpass

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.CreateOperation, "users/alice", map[string]any{"password": "right", "policies": "dev,ops"})
	h.mustDo(t, logical.CreateOperation, "users/lan", map[string]any{"password": "right", "token_bound_cidrs": "10.0.0.0/8,::1"})
	cases := map[string]struct {
		path, password, remote string
		wantErr                error
	}{
		"success":             {path: "login/alice", password: "right"},
		"upper-case name":     {path: "login/ALICE", password: "right"},
		"wrong password":      {path: "login/alice", password: "wrong", wantErr: ErrInvalidCredentials},
		"password case":       {path: "login/alice", password: "RIGHT", wantErr: ErrInvalidCredentials},
		"unknown user":        {path: "login/mallory", password: "right", wantErr: ErrInvalidCredentials},
		"overlong password":   {path: "login/alice", password: string(make([]byte, 100)), wantErr: ErrInvalidCredentials},
		"empty password":      {path: "login/alice", password: "", wantErr: logical.ErrInvalidRequest},
		"bad name":            {path: "login/a/b", password: "right", wantErr: logical.ErrUnsupportedPath},
		"inside cidr":         {path: "login/lan", password: "right", remote: "10.9.8.7:5000"},
		"inside cidr v6":      {path: "login/lan", password: "right", remote: "[::1]:5000"},
		"bare address":        {path: "login/lan", password: "right", remote: "10.9.8.7"},
		"outside cidr":        {path: "login/lan", password: "right", remote: "192.168.0.1:5000", wantErr: ErrInvalidCredentials},
		"unparsable remote":   {path: "login/lan", password: "right", remote: "pipe", wantErr: ErrInvalidCredentials},
		"no remote with cidr": {path: "login/lan", password: "right", remote: "", wantErr: ErrInvalidCredentials},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			remote := tc.remote
			if remote == "" && tc.path != "login/lan" {
				remote = "127.0.0.1:1"
			}
			r, err := h.doFrom(logical.UpdateOperation, tc.path, map[string]any{"password": tc.password}, remote)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(tc.wantErr, ErrInvalidCredentials) && err.Error() != "invalid username or password" {
					t.Fatalf("message %q", err.Error())
				}
				return
			}
			if err != nil || r == nil || r.Auth == nil {
				t.Fatalf("login: %v %v", r, err)
			}
		})
	}
}

func TestLoginAuthShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.CreateOperation, "users/alice", map[string]any{
		"password": "pw", "token_policies": "ops,dev", "token_ttl": "1h", "token_max_ttl": "4h",
		"token_explicit_max_ttl": "3h", "token_period": "0", "token_num_uses": 7,
	})
	r := h.mustDo(t, logical.UpdateOperation, "login/ALICE", map[string]any{"password": "pw"})
	want := &logical.Auth{
		Policies: []string{"dev", "ops"}, Metadata: map[string]string{"username": "alice"}, DisplayName: "alice",
		LeaseDuration: time.Hour, ExplicitMaxTTL: 3 * time.Hour, NumUses: 7, Renewable: true, TokenType: "service",
		Alias: &logical.Alias{Name: "alice"},
	}
	if !reflect.DeepEqual(r.Auth, want) {
		t.Fatalf("auth = %+v\nwant   %+v", r.Auth, want)
	}
	if r.Data != nil || r.Secret != nil {
		t.Fatalf("login returned more than Auth: %+v", r)
	}
}

// TestFailedLoginsCostTheSame checks the structure that keeps timing flat:
// an unknown user and a wrong password each cost exactly one bcrypt
// comparison, against hashes of the same cost.
func TestFailedLoginsCostTheSame(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.CreateOperation, "users/alice", map[string]any{"password": "right"})
	var calls atomic.Int32
	var costs [2]int
	h.b.compare = func(hash, pw []byte) error {
		n := calls.Add(1)
		costs[n-1], _ = bcrypt.Cost(hash)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	_, errUnknown := h.do(logical.UpdateOperation, "login/nobody", map[string]any{"password": "right"})
	_, errWrong := h.do(logical.UpdateOperation, "login/alice", map[string]any{"password": "wrong"})
	if calls.Load() != 2 || costs[0] != bcryptCost || costs[1] != bcryptCost {
		t.Fatalf("compares = %d, costs = %v; want one each at cost %d", calls.Load(), costs, bcryptCost)
	}
	if errUnknown != ErrInvalidCredentials || errWrong != ErrInvalidCredentials {
		t.Fatalf("errors differ: %v / %v", errUnknown, errWrong)
	}
}
