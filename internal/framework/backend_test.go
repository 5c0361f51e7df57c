package framework

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func testBackend() *Backend {
	return &Backend{Paths: []*Path{{
		Pattern: "roles/" + GenericNameRegex("name"),
		Fields: map[string]*FieldSchema{
			"name":  {Type: TypeString},
			"ttl":   {Type: TypeDurationSecond, Default: time.Hour},
			"count": {Type: TypeInt, Required: false},
			"tags":  {Type: TypeLowerStrings},
		},
		Operations: map[logical.Operation]OperationFunc{
			logical.ReadOperation: func(_ context.Context, _ *logical.Request, d *FieldData) (*logical.Response, error) {
				return logical.DataResponse(map[string]any{
					"name": d.String("name"), "ttl": d.Duration("ttl"), "count": d.Int("count"), "tags": d.Strings("tags"),
				}), nil
			},
		},
		ExistenceCheck: func(_ context.Context, _ *logical.Request, d *FieldData) (bool, error) {
			return d.String("name") == "present", nil
		},
	}}}
}

func TestHandleRequest(t *testing.T) {
	t.Parallel()
	b := testBackend()
	cases := map[string]struct {
		op      logical.Operation
		path    string
		data    map[string]any
		wantErr error
		check   func(t *testing.T, r *logical.Response)
	}{
		"defaults": {op: logical.ReadOperation, path: "roles/web", check: func(t *testing.T, r *logical.Response) {
			if r.Data["name"] != "web" || r.Data["ttl"] != time.Hour || r.Data["count"] != 0 {
				t.Fatalf("got %v", r.Data)
			}
		}},
		"typed input": {op: logical.ReadOperation, path: "roles/web", data: map[string]any{"ttl": "90", "count": "3", "tags": "A, b,,"},
			check: func(t *testing.T, r *logical.Response) {
				if r.Data["ttl"] != 90*time.Second || r.Data["count"] != 3 || len(r.Data["tags"].([]string)) != 2 {
					t.Fatalf("got %v", r.Data)
				}
			}},
		"days":           {op: logical.ReadOperation, path: "roles/web", data: map[string]any{"ttl": "2d"}, check: func(t *testing.T, r *logical.Response) { want(t, r.Data["ttl"], 48*time.Hour) }},
		"bad int":        {op: logical.ReadOperation, path: "roles/web", data: map[string]any{"count": "x"}, wantErr: logical.ErrInvalidRequest},
		"negative ttl":   {op: logical.ReadOperation, path: "roles/web", data: map[string]any{"ttl": "-5s"}, wantErr: logical.ErrInvalidRequest},
		"unknown path":   {op: logical.ReadOperation, path: "nope", wantErr: logical.ErrUnsupportedPath},
		"unsupported op": {op: logical.DeleteOperation, path: "roles/web", wantErr: logical.ErrUnsupportedOperation},
		"unknown field warns": {op: logical.ReadOperation, path: "roles/web", data: map[string]any{"bogus": 1},
			check: func(t *testing.T, r *logical.Response) {
				if len(r.Warnings) != 1 {
					t.Fatalf("warnings %v", r.Warnings)
				}
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: tc.op, Path: tc.path, Data: tc.data})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	b := testBackend()
	found, exists, err := b.ExistenceCheck(context.Background(), &logical.Request{Path: "roles/present"})
	if err != nil || !found || !exists {
		t.Fatalf("found=%v exists=%v err=%v", found, exists, err)
	}
	found, exists, _ = b.ExistenceCheck(context.Background(), &logical.Request{Path: "roles/absent"})
	if !found || exists {
		t.Fatalf("found=%v exists=%v", found, exists)
	}
}

func want(t *testing.T, got, w any) {
	t.Helper()
	if got != w {
		t.Fatalf("got %v, want %v", got, w)
	}
}

func TestCaptureBeatsBody(t *testing.T) {
	t.Parallel()
	b := &Backend{Paths: []*Path{{
		Pattern: "data/" + MatchAllRegex("path"),
		Fields:  map[string]*FieldSchema{"path": {Type: TypeString}},
		Operations: map[logical.Operation]OperationFunc{
			logical.ReadOperation: func(_ context.Context, _ *logical.Request, d *FieldData) (*logical.Response, error) {
				return logical.DataResponse(map[string]any{"path": d.String("path")}), nil
			},
		},
	}}}
	r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "data/", Data: map[string]any{"path": "other"}})
	if err != nil || r.Data["path"] != "" {
		t.Fatalf("body overrode an empty capture: %v %v", r, err)
	}
}

// TestAliases: a field's older name fills it when its own name is absent,
// loses (with a warning) when both are set, is not an unknown field, and
// the handler learns which name was used.
func TestAliases(t *testing.T) {
	t.Parallel()
	b := &Backend{Paths: []*Path{{
		Pattern: "role",
		Fields:  map[string]*FieldSchema{"token_ttl": {Type: TypeDurationSecond, Aliases: []string{"ttl"}}},
		Operations: map[logical.Operation]OperationFunc{
			logical.UpdateOperation: func(_ context.Context, _ *logical.Request, d *FieldData) (*logical.Response, error) {
				return logical.DataResponse(map[string]any{"ttl": d.Duration("token_ttl"), "as": d.SetAs("token_ttl")}), nil
			},
		},
	}}}
	cases := map[string]struct {
		body     map[string]any
		ttl      time.Duration
		as       string
		warnings int
		wantErr  error
	}{
		"own name":    {body: map[string]any{"token_ttl": "10s"}, ttl: 10 * time.Second, as: "token_ttl"},
		"alias":       {body: map[string]any{"ttl": "10s"}, ttl: 10 * time.Second, as: "ttl"},
		"both":        {body: map[string]any{"ttl": "1h", "token_ttl": "10s"}, ttl: 10 * time.Second, as: "token_ttl", warnings: 1},
		"null own":    {body: map[string]any{"ttl": "5s", "token_ttl": nil}, ttl: 5 * time.Second, as: "ttl"},
		"unset":       {body: map[string]any{}, as: ""},
		"bad alias":   {body: map[string]any{"ttl": "soon"}, wantErr: logical.ErrInvalidRequest},
		"unknown too": {body: map[string]any{"ttl": "1s", "bogus": 1}, ttl: time.Second, as: "ttl", warnings: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "role", Data: tc.body})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || r.Data["ttl"] != tc.ttl || r.Data["as"] != tc.as || len(r.Warnings) != tc.warnings {
				t.Fatalf("got %+v %v", r, err)
			}
		})
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	t.Parallel()
	b := &Backend{Paths: []*Path{{
		Pattern: "role",
		Fields: map[string]*FieldSchema{
			"token_ttl": {Type: TypeDurationSecond, Aliases: []string{"ttl"}},
			"ttl":       {Type: TypeDurationSecond},
		},
	}}}
	defer func() {
		if recover() == nil {
			t.Fatal("a name declared twice did not panic")
		}
	}()
	_, _ = b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "role"})
}

// TestKVPairsForms: a map of strings arrives as a JSON object, a list of
// key=value strings (the CLI's repeated metadata=k=v) or one such string.
func TestKVPairsForms(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		raw  any
		want map[string]string
		err  bool
	}{
		"object":      {raw: map[string]any{"a": "1", "b": 2.0}, want: map[string]string{"a": "1", "b": "2"}},
		"list":        {raw: []any{"a=1", "b=x=y"}, want: map[string]string{"a": "1", "b": "x=y"}},
		"one string":  {raw: "team=a", want: map[string]string{"team": "a"}},
		"no equals":   {raw: "team", err: true},
		"list no eq":  {raw: []any{"a"}, err: true},
		"wrong types": {raw: 3.0, err: true},
	}
	for name, tc := range cases {
		got, err := convert(TypeKVPairs, tc.raw)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: %v %v", name, got, err)
		}
	}
}

// TestRawAndRouteOrder: Raw is the body with the captures laid over it, the
// first route whose pattern matches wins even when a later one shares its
// literal prefix, a route whose prefix differs is never matched, and more
// fields than FieldData keeps inline all arrive.
func TestRawAndRouteOrder(t *testing.T) {
	t.Parallel()
	var got map[string]any
	var fields []string
	handler := func(tag string) OperationFunc {
		return func(_ context.Context, _ *logical.Request, d *FieldData) (*logical.Response, error) {
			got = d.Raw()
			fields = []string{tag, d.String("name"), d.String("a"), d.String("b"), d.String("c"), d.String("e"), d.String("f")}
			return nil, nil
		}
	}
	six := func() map[string]*FieldSchema {
		m := map[string]*FieldSchema{"name": {Type: TypeString}}
		for _, k := range []string{"a", "b", "c", "e", "f"} {
			m[k] = &FieldSchema{Type: TypeString}
		}
		return m
	}
	b := &Backend{Paths: []*Path{
		{Pattern: "config", Fields: six(), Operations: map[logical.Operation]OperationFunc{logical.ReadOperation: handler("config")}},
		{Pattern: "items/fixed", Fields: six(), Operations: map[logical.Operation]OperationFunc{logical.ReadOperation: handler("fixed")}},
		{Pattern: "items/" + GenericNameRegex("name"), Fields: six(), Operations: map[logical.Operation]OperationFunc{logical.ReadOperation: handler("named")}},
	}}
	cases := map[string]struct {
		path string
		want []string
		raw  map[string]any
	}{
		"fixed before named": {"items/fixed", []string{"fixed", "body", "1", "2", "3", "4", "5"}, map[string]any{"a": "1", "b": "2", "c": "3", "e": "4", "f": "5", "name": "body"}},
		"named":              {"items/x", []string{"named", "x", "1", "2", "3", "4", "5"}, map[string]any{"a": "1", "b": "2", "c": "3", "e": "4", "f": "5", "name": "x"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := map[string]any{"a": "1", "b": "2", "c": "3", "e": "4", "f": "5", "name": "body"}
			if _, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: tc.path, Data: data}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fields, tc.want) || !reflect.DeepEqual(got, tc.raw) {
				t.Fatalf("fields %v raw %v, want %v %v", fields, got, tc.want, tc.raw)
			}
			if data["name"] != "body" {
				t.Fatal("Raw changed the request's data")
			}
		})
	}
	if _, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "other/x"}); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Fatalf("err = %v", err)
	}
}
