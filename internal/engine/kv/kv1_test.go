package kv

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func newTestV1(t testing.TB) logical.Backend {
	t.Helper()
	b, err := Factory(t.Context(), &logical.BackendConfig{Storage: logical.NewInmemStorage()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestV1(t *testing.T) {
	t.Parallel()
	seed := []step{
		put("app/db", `{"user":"u","port":5432,"nested":{"a":[1,"x"]}}`),
		put("app/deep/k", `{"v":"1"}`),
		put("top", `{"path":"not-a-path","v":"2"}`),
	}
	cases := map[string]struct {
		req     step
		wantErr error
		wantNil bool
		want    string
	}{
		"read":                 {req: get("app/db"), want: `{"user":"u","port":5432,"nested":{"a":[1,"x"]}}`},
		"read keeps path key":  {req: get("top"), want: `{"path":"not-a-path","v":"2"}`},
		"read missing":         {req: get("nope"), wantNil: true},
		"read empty path":      {req: get(""), wantErr: logical.ErrInvalidRequest},
		"read dotdot":          {req: get("app/../top"), wantErr: logical.ErrInvalidRequest},
		"write empty body":     {req: put("x", ``), wantErr: logical.ErrInvalidRequest},
		"write empty object":   {req: put("x", `{}`), wantErr: logical.ErrInvalidRequest},
		"write root":           {req: put("", `{"path":"x"}`), wantErr: logical.ErrInvalidRequest},
		"write trailing slash": {req: put("x/", `{"a":"b"}`), wantErr: logical.ErrInvalidRequest},
		"write":                {req: put("new", `{"a":"b"}`), wantNil: true},
		"delete":               {req: del("app/db"), wantNil: true},
		"delete missing":       {req: del("nope"), wantNil: true},
		"list root":            {req: list(""), want: `{"keys":["app/","top"]}`},
		"list folder":          {req: list("app/"), want: `{"keys":["db","deep/"]}`},
		"list folder no slash": {req: list("app"), want: `{"keys":["db","deep/"]}`},
		"list empty":           {req: list("nothing/"), wantNil: true},
		"list bad":             {req: list("app//"), wantErr: logical.ErrInvalidRequest},
		"patch refused":        {req: patch("app/db", `{"a":"b"}`), wantErr: logical.ErrUnsupportedOperation},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newTestV1(t)
			mustDo(t, b, seed...)
			resp, err := do(t, b, tc.req)
			checkResult(t, resp, err, tc.wantErr, tc.wantNil, 0, tc.want)
		})
	}
}

func TestV1WriteReadDelete(t *testing.T) {
	t.Parallel()
	b := newTestV1(t)
	ec := b.(logical.ExistenceChecker)
	exists := func() bool {
		_, ok, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.CreateOperation, Path: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if exists() {
		t.Fatal("exists before write")
	}
	mustDo(t, b, put("s", `{"a":"1"}`), put("s", `{"b":"2"}`))
	if !exists() {
		t.Fatal("missing after write")
	}
	wantJSON(t, mustDo(t, b, get("s")).Data, `{"b":"2"}`)
	mustDo(t, b, del("s"))
	if exists() || mustDo(t, b, get("s")) != nil {
		t.Fatal("still there after delete")
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		options map[string]string
		wantErr error
		wantV2  bool
	}{
		"absent": {},
		"one":    {options: map[string]string{"version": "1"}},
		"two":    {options: map[string]string{"version": "2"}, wantV2: true},
		"three":  {options: map[string]string{"version": "3"}, wantErr: logical.ErrInvalidRequest},
		"word":   {options: map[string]string{"version": "two"}, wantErr: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := Factory(t.Context(), &logical.BackendConfig{Storage: logical.NewInmemStorage(), Options: tc.options})
			if tc.wantErr != nil {
				checkResult(t, nil, err, tc.wantErr, false, 0, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Only a v2 mount answers a read of "config" with settings.
			r, err := do(t, b, get("config"))
			if isV2 := err == nil && r != nil; isV2 != tc.wantV2 {
				t.Fatalf("v2=%v, want %v (err %v)", isV2, tc.wantV2, err)
			}
		})
	}
}

func TestV1LeaseDuration(t *testing.T) {
	t.Parallel()
	b, err := Factory(t.Context(), &logical.BackendConfig{
		Storage: logical.NewInmemStorage(),
		System:  logical.StaticSystemView{DefaultTTL: 768 * time.Hour, MaxTTL: 768 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		body string
		want time.Duration
	}{
		"mount default": {`{"a":"b"}`, 768 * time.Hour},
		"own ttl":       {`{"a":"b","ttl":"30m"}`, 30 * time.Minute},
		"seconds":       {`{"a":"b","ttl":90}`, 90 * time.Second},
		"bad ttl":       {`{"a":"b","ttl":"soon"}`, 768 * time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			mustDo(t, b, put("s/"+name, tc.body))
			r := mustDo(t, b, get("s/"+name))
			if r.Secret == nil || r.Secret.TTL != tc.want || r.Secret.Renewable || r.Secret.LeaseID != "" {
				t.Fatalf("secret %+v, want ttl %s and no lease", r.Secret, tc.want)
			}
		})
	}
}
