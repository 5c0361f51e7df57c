package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/physical/postgres"
)

// Migration is a validated configuration of `coffer operator migrate`, in
// Vault's shape: storage_source and storage_destination blocks (the same
// types and settings as the server's storage block), cluster_addr and start.
type Migration struct {
	Source      Storage
	Destination Storage
	// ClusterAddr is the address a raft destination is recorded at in the
	// cluster it bootstraps (host:port, or a URL whose scheme is ignored,
	// as Vault writes it); empty means its node ID, which the server
	// replaces with its own cluster address at start.
	ClusterAddr string
	// Start, when not empty, resumes a migration: only keys at or after
	// it, in byte order, are copied.
	Start string
}

// LoadMigrationFile reads and parses the migration configuration at path.
// Errors are *Error values naming path and, where there is one, the line.
func LoadMigrationFile(path string) (*Migration, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMigration(src, path)
}

// ParseMigration parses a migration configuration; filename is used only in
// messages. Both blocks are required, in-memory storage is refused on
// either side (it holds nothing once its server stops), and a destination
// that is the source itself is refused. ParseMigration never panics.
func ParseMigration(src []byte, filename string) (*Migration, error) {
	d, list, err := parseTop(src, filename)
	if err != nil {
		return nil, err
	}
	m := &Migration{}
	fields := map[string]func(ast.Node) error{
		"cluster_addr": d.stringInto(&m.ClusterAddr, "cluster_addr"),
		"start":        d.stringInto(&m.Start, "start"),
	}
	blocks := map[string]*Storage{"storage_source": &m.Source, "storage_destination": &m.Destination}
	seen := map[string]token.Pos{}
	for _, item := range list.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return nil, err
		}
		dst, isBlock := blocks[key]
		if !isBlock {
			if err := d.setOnce(fields, seen, key, item); err != nil {
				return nil, err
			}
			continue
		}
		err = d.block(key, item, func(label string, pos token.Pos, body *ast.ObjectType) error {
			if dst.Type != "" {
				return d.errorf(pos, ErrDuplicate, "only one %s block is allowed (first on line %d)", key, dst.Line)
			}
			st, err := d.storageBlock(key, label, pos, body)
			if err != nil {
				return err
			}
			if st.Type == StorageInmem {
				return d.errorf(pos, ErrInvalidValue, `%s "inmem" cannot be migrated: in-memory storage holds nothing once its server stops (use file, raft or postgresql)`, key)
			}
			*dst = st
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := d.validateMigration(m, seen); err != nil {
		return nil, err
	}
	return m, nil
}

// ClusterHostPort is ClusterAddr as host:port (a URL's host), as the
// server reads its own cluster_addr.
func (m *Migration) ClusterHostPort() string {
	a := strings.TrimSpace(m.ClusterAddr)
	if u, err := url.Parse(a); err == nil && u.Host != "" {
		return u.Host
	}
	return a
}

func (d *decoder) validateMigration(m *Migration, seen map[string]token.Pos) error {
	for _, b := range []struct {
		kind string
		st   Storage
	}{{"storage_source", m.Source}, {"storage_destination", m.Destination}} {
		if kind := b.kind; b.st.Type == "" {
			return &Error{File: d.file, Kind: ErrMissing, Msg: fmt.Sprintf(
				`missing %s block: add %s "TYPE" { ... } with TYPE file, raft or postgresql`, kind, kind)}
		}
	}
	if sameStorage(m.Source, m.Destination) {
		return d.errorf(token.Pos{Line: m.Destination.Line}, ErrInvalidValue,
			"storage_destination is the source itself (storage_source on line %d): migrate to another place", m.Source.Line)
	}
	if m.ClusterAddr != "" {
		if _, _, err := net.SplitHostPort(m.ClusterHostPort()); err != nil {
			return d.errorf(seen["cluster_addr"], ErrInvalidValue, "cluster_addr %q must be host:port or a URL such as https://coffer-1.example.com:8201", m.ClusterAddr)
		}
	}
	if p, ok := seen["start"]; ok && m.Start == "" {
		return d.errorf(p, ErrInvalidValue, `start must name a key to resume from; remove it to copy everything`)
	}
	return nil
}

// sameStorage reports whether a and b are the same data as far as the
// configuration tells: the same directory, or the same PostgreSQL table
// with the same connection settings. (A PostgreSQL URL from the
// environment is checked when both are opened: the second open of one
// table is refused.)
func sameStorage(a, b Storage) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case StorageFile, StorageRaft:
		pa, err1 := filepath.Abs(a.Path)
		pb, err2 := filepath.Abs(b.Path)
		return err1 == nil && err2 == nil && pa == pb
	case StoragePostgres:
		return a.ConnectionURL == b.ConnectionURL && tableOrDefault(a.Table) == tableOrDefault(b.Table)
	}
	return false
}

func tableOrDefault(t string) string {
	if t == "" {
		return postgres.DefaultTable
	}
	return t
}
