package jwtverify

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testClaims(t *testing.T) Claims {
	t.Helper()
	c, err := decodeClaims([]byte(`{
		"sub": "system:serviceaccount:team-a:app",
		"aud": "single",
		"groups": ["dev", "ops"],
		"mixed": ["dev", 3],
		"n": 12345678901234567,
		"flag": true,
		"nothing": null,
		"kubernetes.io": {"namespace": "team-a", "serviceaccount": {"name": "app", "uid": "u-1"}, "list": ["x", "y"]},
		"a/b": "slash", "m~n": "tilde"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClaimsLookup(t *testing.T) {
	t.Parallel()
	c := testClaims(t)
	cases := map[string]struct {
		ref  string
		want any // nil: not found
	}{
		"top level":            {ref: "sub", want: "system:serviceaccount:team-a:app"},
		"pointer top level":    {ref: "/sub", want: "system:serviceaccount:team-a:app"},
		"pointer nested":       {ref: "/kubernetes.io/namespace", want: "team-a"},
		"pointer deeper":       {ref: "/kubernetes.io/serviceaccount/uid", want: "u-1"},
		"pointer array":        {ref: "/kubernetes.io/list/1", want: "y"},
		"array out of range":   {ref: "/kubernetes.io/list/2"},
		"array leading zero":   {ref: "/kubernetes.io/list/01"},
		"array negative":       {ref: "/kubernetes.io/list/-1"},
		"escaped slash":        {ref: "/a~1b", want: "slash"},
		"escaped tilde":        {ref: "/m~0n", want: "tilde"},
		"bad escape":           {ref: "/m~2n"},
		"dotted name is flat":  {ref: "kubernetes.io.namespace"},
		"null is absent":       {ref: "nothing"},
		"through a string":     {ref: "/sub/x"},
		"missing":              {ref: "nope"},
		"number stays exact":   {ref: "n", want: json.Number("12345678901234567")},
		"bool":                 {ref: "/flag", want: true},
		"empty pointer tokens": {ref: "//"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := c.Lookup(tc.ref)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Lookup(%q) = %v, %v; want %v", tc.ref, got, ok, tc.want)
			}
		})
	}
}

func TestClaimsTyped(t *testing.T) {
	t.Parallel()
	c := testClaims(t)
	if s, err := c.String("/kubernetes.io/serviceaccount/name"); err != nil || s != "app" {
		t.Fatalf("String = %q, %v", s, err)
	}
	if l, err := c.StringList("groups"); err != nil || !reflect.DeepEqual(l, []string{"dev", "ops"}) {
		t.Fatalf("StringList = %v, %v", l, err)
	}
	if l, err := c.StringList("aud"); err != nil || !reflect.DeepEqual(l, []string{"single"}) {
		t.Fatalf("StringList(aud) = %v, %v", l, err)
	}
	if a := c.Audience(); !reflect.DeepEqual(a, []string{"single"}) {
		t.Fatalf("Audience = %v", a)
	}
	errCases := map[string]struct {
		get  func() error
		kind error
		msg  string
	}{
		"string is a number":  {get: func() error { _, err := c.String("n"); return err }, kind: ErrClaimType, msg: `claim "n" must be a string`},
		"string is an object": {get: func() error { _, err := c.String("kubernetes.io"); return err }, kind: ErrClaimType},
		"string missing":      {get: func() error { _, err := c.String("/x/y"); return err }, kind: ErrClaimMissing, msg: `claim "/x/y" is missing`},
		"list with a number":  {get: func() error { _, err := c.StringList("mixed"); return err }, kind: ErrClaimType, msg: "list of strings"},
		"list is a bool":      {get: func() error { _, err := c.StringList("flag"); return err }, kind: ErrClaimType},
		"list missing (null)": {get: func() error { _, err := c.StringList("nothing"); return err }, kind: ErrClaimMissing},
	}
	for name, tc := range errCases {
		t.Run(name, func(t *testing.T) {
			err := tc.get()
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v; want %v containing %q", err, tc.kind, tc.msg)
			}
			if strings.Contains(err.Error(), "team-a") || strings.Contains(err.Error(), "12345") {
				t.Fatalf("error quotes a claim value: %v", err)
			}
		})
	}
}

func TestCheckClaimRef(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"sub", "/kubernetes.io/namespace", "/a~1b", "/", "email"} {
		if err := CheckClaimRef(ok); err != nil {
			t.Fatalf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/a~", "/a~2"} {
		if err := CheckClaimRef(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
