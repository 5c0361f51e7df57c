package kv

import (
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// upgrade converts s (written by a version 1 mount) and returns the version
// 2 backend over it, as the core does on a tune of options.version.
func upgrade(t *testing.T, s *logical.InmemStorage, previous map[string]string) (logical.Backend, error) {
	t.Helper()
	b, err := Factory(t.Context(), &logical.BackendConfig{Storage: s, Options: map[string]string{"version": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	up, ok := b.(logical.StorageUpgrader)
	if !ok {
		t.Fatalf("a version 2 backend (%T) cannot upgrade", b)
	}
	ops, err := up.UpgradeOps(t.Context(), s, previous)
	if err != nil {
		return nil, err
	}
	return b, logical.ApplyTxn(t.Context(), s, ops)
}

func TestUpgradeV1ToV2(t *testing.T) {
	t.Parallel()
	s := logical.NewInmemStorage()
	v1, err := Factory(t.Context(), &logical.BackendConfig{Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, v1, put("app/db", `{"user":"u","password":"p","port":5432}`), put("app", `{"a":"1"}`), put("top", `{"b":"2"}`))
	v2, err := upgrade(t, s, map[string]string{"version": "1"})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, mustDo(t, v2, get("data/app/db")).Data["data"], `{"user":"u","password":"p","port":5432}`)
	wantJSON(t, mustDo(t, v2, get("data/app")).Data["data"], `{"a":"1"}`)
	r := mustDo(t, v2, get("metadata/top"))
	if r.Data["current_version"] != uint64(1) || r.Data["oldest_version"] != uint64(1) {
		t.Fatalf("metadata %v", r.Data)
	}
	wantJSON(t, mustDo(t, v2, list("metadata/")).Data, `{"keys":["app","app/","top"]}`)
	// The next write is version 2, and no version 1 key is left behind.
	wantJSON(t, mustDo(t, v2, put("data/top", `{"data":{"b":"3"}}`)).Data["version"], `2`)
	if e, err := s.Get(t.Context(), "app/db"); err != nil || e != nil {
		t.Fatalf("version 1 key left: %v %v", e, err)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		key      string
		previous map[string]string
	}{
		"secret named config":    {key: "config", previous: map[string]string{"version": "1"}},
		"secret under metadata/": {key: "metadata/x", previous: nil},
		"secret under versions/": {key: "versions/y", previous: map[string]string{"version": "1"}},
		"from version 2":         {key: "fine", previous: map[string]string{"version": "2"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := logical.NewInmemStorage()
			v1, err := Factory(t.Context(), &logical.BackendConfig{Storage: s})
			if err != nil {
				t.Fatal(err)
			}
			mustDo(t, v1, put(tc.key, `{"k":"v"}`), put("other", `{"k":"v"}`))
			if _, err := upgrade(t, s, tc.previous); !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err = %v, want a 400", err)
			}
			for _, k := range []string{tc.key, "other"} {
				if r := mustDo(t, v1, get(k)); r == nil {
					t.Fatalf("%s lost after a refused upgrade", k)
				}
			}
		})
	}
}

// TestUpgradeRefusesWhatIsNotOneObject: the upgrade's check is what lets
// reads copy version data into responses without validating it
// (logical.StoredJSON), so a stored version 1 value that is not exactly one
// JSON object (null, an object with anything after it, which would have
// spliced fields into the response's envelope) refuses the upgrade, and
// nothing is converted.
func TestUpgradeRefusesWhatIsNotOneObject(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`null`, `{"a":"1"},"injected":{"x":1}`, `{"a":"1"}{"b":"2"}`, `{"a":"1"} x`, `["a"]`, `"s"`} {
		s := logical.NewInmemStorage()
		if err := s.Put(t.Context(), &logical.StorageEntry{Key: "planted", Value: []byte(bad)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), &logical.StorageEntry{Key: "fine", Value: []byte(`{"k":"v"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := upgrade(t, s, map[string]string{"version": "1"}); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("%s: upgrade err = %v, want ErrCorruptEntry", bad, err)
		}
		if e, _ := s.Get(t.Context(), "fine"); e == nil {
			t.Fatalf("%s: a refused upgrade converted other secrets", bad)
		}
	}
	for _, good := range []string{`{"a":"1"}`, "{\"a\":\"1\"}\n", `{}`} {
		if _, err := decodeObject([]byte(good)); err != nil {
			t.Fatalf("%q refused: %v", good, err)
		}
	}
}
