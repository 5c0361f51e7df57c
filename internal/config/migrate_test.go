package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMigration(t *testing.T) {
	t.Parallel()
	src := `storage_source "file" {
  path = "/var/lib/coffer"
}

storage_destination "raft" {
  path                   = "/var/lib/coffer-raft"
  node_id                = "node-1"
  performance_multiplier = 1
}

cluster_addr = "https://127.0.0.1:8201"
start        = "logical/"
`
	m, err := ParseMigration([]byte(src), "migrate.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if m.Source.Type != StorageFile || m.Source.Path != "/var/lib/coffer" || m.Source.Line != 1 {
		t.Fatalf("source = %+v", m.Source)
	}
	want := RaftStorage{NodeID: "node-1", PerformanceMultiplier: 1}
	if m.Destination.Type != StorageRaft || m.Destination.Path != "/var/lib/coffer-raft" || !reflect.DeepEqual(m.Destination.Raft, want) || m.Destination.Line != 5 {
		t.Fatalf("destination = %+v", m.Destination)
	}
	if m.ClusterAddr != "https://127.0.0.1:8201" || m.ClusterHostPort() != "127.0.0.1:8201" || m.Start != "logical/" {
		t.Fatalf("cluster_addr %q start %q", m.ClusterAddr, m.Start)
	}

	// The JSON shape, and postgresql through the very same block parser.
	m, err = ParseMigration([]byte(`{"storage_source": {"raft": {"path": "/r"}},
 "storage_destination": {"postgresql": {"table": "kv", "max_parallel": 4}}}`), "migrate.json")
	if err != nil {
		t.Fatal(err)
	}
	if m.Source.Path != "/r" || m.Destination.Type != StoragePostgres || m.Destination.Table != "kv" || m.Destination.MaxParallel != 4 {
		t.Fatalf("json: %+v", m)
	}
}

func TestParseMigrationErrors(t *testing.T) {
	t.Parallel()
	const src = "storage_source \"file\" {\n  path = \"/a\"\n}\n"      // lines 1-3
	const dst = "storage_destination \"file\" {\n  path = \"/b\"\n}\n" // lines 1-3
	cases := map[string]struct {
		src  string
		kind error
		want string
	}{
		"missing source": {dst, ErrMissing,
			`migrate.hcl: missing storage_source block: add storage_source "TYPE" { ... } with TYPE file, raft or postgresql`},
		"missing destination": {src, ErrMissing, `migrate.hcl: missing storage_destination block`},
		"unknown type": {src + "storage_destination \"consul\" {\n}\n", ErrUnknownKey,
			`migrate.hcl:4: unknown storage_destination type "consul" (supported: file, raft, postgresql, inmem)`},
		"inmem": {"\nstorage_source \"inmem\" {}\n" + dst, ErrInvalidValue,
			`migrate.hcl:2: storage_source "inmem" cannot be migrated`},
		"raft without path": {src + "storage_destination \"raft\" {\n  node_id = \"n\"\n}\n", ErrMissing,
			`migrate.hcl:4: storage_destination "raft" needs path`},
		"file without path": {"storage_source \"file\" {}\n" + dst, ErrMissing,
			`migrate.hcl:1: storage_source "file" needs path`},
		"unknown key in block": {src + "storage_destination \"postgresql\" {\n  tabel = \"x\"\n}\n", ErrUnknownKey,
			`migrate.hcl:5: unknown key "tabel" in storage_destination "postgresql"`},
		"bad table": {src + "storage_destination \"postgresql\" {\n  table = \"a;b\"\n}\n", ErrInvalidValue,
			`migrate.hcl:5: table "a;b"`},
		"two sources": {src + src + dst, ErrDuplicate,
			`migrate.hcl:4: only one storage_source block is allowed (first on line 1)`},
		"storage block": {src + dst + "storage \"file\" {\n  path = \"/c\"\n}\n", ErrUnknownKey,
			`migrate.hcl:7: unknown key "storage"`},
		"same place": {src + "storage_destination \"file\" {\n  path = \"/x/../a\"\n}\n", ErrInvalidValue,
			`migrate.hcl:4: storage_destination is the source itself (storage_source on line 1)`},
		"bad cluster_addr": {src + dst + "cluster_addr = \"coffer-1\"\n", ErrInvalidValue,
			`migrate.hcl:7: cluster_addr "coffer-1" must be host:port or a URL`},
		"empty start": {src + dst + "start = \"\"\n", ErrInvalidValue, `migrate.hcl:7: start must name a key`},
		"start twice": {src + dst + "start = \"a\"\nstart = \"b\"\n", ErrDuplicate, `migrate.hcl:8: duplicate key "start"`},
		"syntax":      {src + "storage_destination \"file\" {\n", ErrSyntax, `migrate.hcl:`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseMigration([]byte(tc.src), "migrate.hcl")
			var ce *Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want kind %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestParseMigrationSameTable(t *testing.T) {
	t.Parallel()
	src := "storage_source \"postgresql\" {\n  connection_url = \"postgres://h/db\"\n}\n" +
		"storage_destination \"postgresql\" {\n  connection_url = \"postgres://h/db\"\n  table = \"coffer_kv_store\"\n}\n"
	if _, err := ParseMigration([]byte(src), "m.hcl"); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("same table (default name written out): %v", err)
	}
	other := strings.Replace(src, `"coffer_kv_store"`, `"coffer_new"`, 1)
	if _, err := ParseMigration([]byte(other), "m.hcl"); err != nil {
		t.Fatalf("another table: %v", err)
	}
}

func FuzzParseMigration(f *testing.F) {
	for _, s := range []string{
		"storage_source \"file\" { path = \"/a\" }\nstorage_destination \"raft\" { path = \"/b\" }\nstart = \"x\"\n",
		`{"storage_source": {"postgresql": {}}, "storage_destination": {"file": {"path": "/d"}}}`,
		"storage_source { path = 1 }",
		"cluster_addr = [1]",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		m, err := ParseMigration([]byte(src), "fuzz.hcl")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Kind == nil {
				t.Fatalf("error is not a typed *Error: %T %v", err, err)
			}
			return
		}
		if m.Source.Type == "" || m.Destination.Type == "" || m.Source.Type == StorageInmem || m.Destination.Type == StorageInmem {
			t.Fatalf("accepted without two usable blocks: %+v", m)
		}
	})
}
