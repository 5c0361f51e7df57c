package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/physical/postgres"
)

// storage reads the server's one storage block.
func (d *decoder) storage(s *Server, label string, pos token.Pos, body *ast.ObjectType) error {
	if s.Storage.Type != "" {
		return d.errorf(pos, ErrDuplicate, "only one storage block is allowed (first on line %d)", s.Storage.Line)
	}
	st, err := d.storageBlock("storage", label, pos, body)
	if err != nil {
		return err
	}
	s.Storage = st
	return nil
}

// storageBlock reads one block of kind ("storage", or the migration's
// "storage_source" and "storage_destination") whose type is label: the
// single place storage settings are parsed, so the server and operator
// migrate accept exactly the same blocks. Messages name the block as
// written (`storage_source "raft" needs path`).
func (d *decoder) storageBlock(kind, label string, pos token.Pos, body *ast.ObjectType) (Storage, error) {
	st := Storage{Type: label, Line: pos.Line}
	where := fmt.Sprintf("%s %q", kind, label)
	var fields map[string]func(ast.Node) error
	switch label {
	case StorageFile:
		fields = map[string]func(ast.Node) error{"path": d.stringInto(&st.Path, "path")}
	case StorageInmem:
		fields = map[string]func(ast.Node) error{}
	case StoragePostgres:
		return d.postgresStorage(st, where, body)
	case StorageRaft:
		return d.raftStorage(st, where, pos, body)
	default:
		return Storage{}, d.errorf(pos, ErrUnknownKey, "unknown %s type %q (supported: file, raft, postgresql, inmem)", kind, label)
	}
	if _, err := d.body(body, where, fields); err != nil {
		return Storage{}, err
	}
	if st.Type == StorageFile && st.Path == "" {
		return Storage{}, d.errorf(pos, ErrMissing, `%s needs path, the directory for the database`, where)
	}
	return st, nil
}

// postgresStorage reads storage "postgresql" in Vault's shape, HA
// (ha_enabled, ha_table) included.
func (d *decoder) postgresStorage(st Storage, where string, body *ast.ObjectType) (Storage, error) {
	var maxParallel int64
	fields := map[string]func(ast.Node) error{
		"connection_url": d.stringInto(&st.ConnectionURL, "connection_url"),
		"table":          d.stringInto(&st.Table, "table"),
		"max_parallel":   d.intInto(&maxParallel, "max_parallel"),
		"ha_enabled":     d.boolInto(&st.HAEnabled, "ha_enabled"),
		"ha_table":       d.stringInto(&st.HATable, "ha_table"),
	}
	seen, err := d.body(body, where, fields)
	if err != nil {
		return Storage{}, err
	}
	if pos, ok := seen["ha_table"]; ok && postgres.CheckTable(st.HATable) != nil {
		return Storage{}, d.errorf(pos, ErrInvalidValue, "ha_table %q: %v", st.HATable, postgres.ErrBadTable)
	}
	if pos, ok := seen["table"]; ok && postgres.CheckTable(st.Table) != nil {
		return Storage{}, d.errorf(pos, ErrInvalidValue, "table %q: %v", st.Table, postgres.ErrBadTable)
	}
	if pos, ok := seen["max_parallel"]; ok && (maxParallel < 1 || maxParallel > 10000) {
		return Storage{}, d.errorf(pos, ErrInvalidValue, "max_parallel must be between 1 and 10000, not %d", maxParallel)
	}
	st.MaxParallel = int(maxParallel)
	return st, nil
}

func (d *decoder) listener(s *Server, label string, pos token.Pos, body *ast.ObjectType) error {
	if label != ListenerTCP {
		return d.errorf(pos, ErrUnknownKey, "unknown listener type %q (supported: tcp)", label)
	}
	l := Listener{Type: label, Line: pos.Line}
	where := fmt.Sprintf("listener %q", label)
	fields := map[string]func(ast.Node) error{
		"address":                          d.stringInto(&l.Address, "address"),
		"cluster_address":                  d.stringInto(&l.ClusterAddress, "cluster_address"),
		"tls_cert_file":                    d.stringInto(&l.TLSCertFile, "tls_cert_file"),
		"tls_key_file":                     d.stringInto(&l.TLSKeyFile, "tls_key_file"),
		"tls_disable":                      d.boolInto(&l.TLSDisable, "tls_disable"),
		"max_request_size":                 d.intInto(&l.MaxRequestSize, "max_request_size"),
		"tls_min_version":                  func(v ast.Node) error { return d.tlsVersion(&l, v) },
		"disable_unauthed_rekey_endpoints": d.boolInto(&l.DisableUnauthedRekeyEndpoints, "disable_unauthed_rekey_endpoints"),
		"disable_unauthed_generate_root_endpoints": d.boolInto(&l.DisableUnauthedGenerateRootEndpoints, "disable_unauthed_generate_root_endpoints"),
		"telemetry": func(v ast.Node) error { return d.listenerTelemetry(&l, v) },
	}
	for k, f := range d.forwardedForFields(&l.ForwardedFor) {
		fields[k] = f
	}
	seen, err := d.body(body, where, fields)
	if err != nil {
		return err
	}
	if err := d.checkForwardedFor(l.ForwardedFor, seen); err != nil {
		return err
	}
	if !l.TLSDisable && (l.TLSCertFile == "" || l.TLSKeyFile == "") {
		return d.errorf(pos, ErrTLSRequired,
			`listener "tcp" needs tls_cert_file and tls_key_file; to serve plain HTTP write tls_disable = true`)
	}
	s.Listeners = append(s.Listeners, l)
	return nil
}

func (d *decoder) tlsVersion(l *Listener, v ast.Node) error {
	var s string
	if err := d.stringInto(&s, "tls_min_version")(v); err != nil {
		return err
	}
	switch s {
	case "tls12", "tls13":
		l.TLSMinVersion = s
		return nil
	case "tls10", "tls11":
		return d.errorf(v.Pos(), ErrInvalidValue, "tls_min_version %q is too old: Coffer serves TLS 1.2 or newer; use tls12 or tls13", s)
	}
	return d.errorf(v.Pos(), ErrInvalidValue, "tls_min_version must be tls12 or tls13, not %q", s)
}

func (d *decoder) seal(s *Server, label string, pos token.Pos, body *ast.ObjectType) error {
	if s.Seal != nil {
		return d.errorf(pos, ErrDuplicate, "only one seal block is allowed (first on line %d)", s.Seal.Line)
	}
	if label != SealStatic {
		return d.errorf(pos, ErrUnknownKey, "unknown seal type %q (supported: static)", label)
	}
	sl := &Seal{Type: label, Line: pos.Line}
	fields := map[string]func(ast.Node) error{"key_file": d.stringInto(&sl.KeyFile, "key_file")}
	if _, err := d.body(body, fmt.Sprintf("seal %q", label), fields); err != nil {
		return err
	}
	if sl.KeyFile == "" {
		return d.errorf(pos, ErrMissing, `seal "static" needs key_file, a file holding 32 random bytes as base64 or hex (generate one with: head -c 32 /dev/urandom | base64)`)
	}
	s.Seal = sl
	return nil
}

func (d *decoder) logLevel(s *Server, v ast.Node) error {
	var lvl string
	if err := d.stringInto(&lvl, "log_level")(v); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(lvl)) {
	case "trace", "debug", "info", "error":
		s.LogLevel = strings.ToLower(strings.TrimSpace(lvl))
	case "warn", "warning":
		s.LogLevel = "warn"
	default:
		return d.errorf(v.Pos(), ErrInvalidValue, "log_level must be trace, debug, info, warn or error, not %q", lvl)
	}
	return nil
}

func (d *decoder) logFormat(s *Server, v ast.Node) error {
	var f string
	if err := d.stringInto(&f, "log_format")(v); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(f)) {
	case "standard", "text":
		s.LogFormat = "text"
	case "json":
		s.LogFormat = "json"
	default:
		return d.errorf(v.Pos(), ErrInvalidValue, "log_format must be standard, text or json, not %q", f)
	}
	return nil
}
