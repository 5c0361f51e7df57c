package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/hclsafe"
)

// maxConfigSize bounds what LoadFile reads; a server config is a few KiB.
const maxConfigSize = 1 << 20

// LoadFile reads and parses the configuration file at path. Errors are
// *Error values naming path and, where there is one, the line.
func LoadFile(path string) (*Server, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(src, path)
}

// Parse parses configuration source; filename is used only in messages.
// The result is validated and has every default applied. Parse never
// panics, whatever src holds.
func Parse(src []byte, filename string) (*Server, error) {
	d, list, err := parseTop(src, filename)
	if err != nil {
		return nil, err
	}
	s := &Server{}
	if err := d.top(s, list); err != nil {
		return nil, err
	}
	if err := d.validate(s); err != nil {
		return nil, err
	}
	applyDefaults(s)
	return s, nil
}

// readFile reads a configuration file (the server's or the agent's) of at
// most maxConfigSize bytes. Errors are *Error values naming path.
func readFile(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Kind: ErrRead, Msg: fmt.Sprintf("cannot read configuration: %v", errors.Unwrap(err))}
	}
	if len(src) > maxConfigSize {
		return nil, &Error{File: path, Kind: ErrInvalidValue, Msg: "configuration file is larger than 1 MiB"}
	}
	return src, nil
}

// parseTop parses configuration source (the server's or the agent's) into
// its top-level list of keys, and returns the decoder whose errors name
// filename. A syntax error is an *Error of kind ErrSyntax, with its line
// when the parser knows it.
func parseTop(src []byte, filename string) (*decoder, *ast.ObjectList, error) {
	d := &decoder{file: filename}
	file, err := parseAST(src)
	if err != nil {
		var pe *hclparser.PosError
		if errors.As(err, &pe) {
			return nil, nil, d.errorf(pe.Pos, ErrSyntax, "syntax error: %v", pe.Err)
		}
		return nil, nil, &Error{File: filename, Kind: ErrSyntax, Msg: "syntax error: " + err.Error()}
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, nil, &Error{File: filename, Kind: ErrSyntax, Msg: "syntax error: configuration is not an object"}
	}
	return d, list, nil
}

// parseAST parses HCL or JSON without panicking, naming the problem in
// configuration terms.
func parseAST(src []byte) (*ast.File, error) {
	file, err := hclsafe.Parse(src)
	switch {
	case errors.Is(err, hclsafe.ErrMalformed):
		return nil, errors.New("malformed configuration")
	case errors.Is(err, hclsafe.ErrInvalidJSON):
		return nil, errors.New("configuration starts with '{' but is not valid JSON")
	}
	return file, err
}

// decoder carries the file name into every error.
type decoder struct {
	file string
}

func (d *decoder) errorf(pos token.Pos, kind error, format string, args ...any) *Error {
	return &Error{File: d.file, Line: pos.Line, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// top walks the top-level items.
func (d *decoder) top(s *Server, list *ast.ObjectList) error {
	fields := map[string]func(ast.Node) error{
		"api_addr":                   d.stringInto(&s.APIAddr, "api_addr"),
		"cluster_addr":               d.stringInto(&s.ClusterAddr, "cluster_addr"),
		"cluster_name":               d.stringInto(&s.ClusterName, "cluster_name"),
		"pid_file":                   d.stringInto(&s.PIDFile, "pid_file"),
		"ui":                         d.boolInto(&s.UI, "ui"),
		"disable_mlock":              d.boolInto(&s.DisableMlock, "disable_mlock"),
		"log_level":                  func(v ast.Node) error { return d.logLevel(s, v) },
		"log_format":                 func(v ast.Node) error { return d.logFormat(s, v) },
		"default_lease_ttl":          d.durationInto(&s.DefaultLeaseTTL, "default_lease_ttl"),
		"max_lease_ttl":              d.durationInto(&s.MaxLeaseTTL, "max_lease_ttl"),
		"disable_api_audit_creation": d.boolInto(&s.DisableAPIAuditCreation, "disable_api_audit_creation"),
		"telemetry":                  func(v ast.Node) error { return d.telemetry(s, v) },
	}
	blocks := map[string]func(label string, pos token.Pos, body *ast.ObjectType) error{
		"storage":  func(l string, p token.Pos, b *ast.ObjectType) error { return d.storage(s, l, p, b) },
		"listener": func(l string, p token.Pos, b *ast.ObjectType) error { return d.listener(s, l, p, b) },
		"seal":     func(l string, p token.Pos, b *ast.ObjectType) error { return d.seal(s, l, p, b) },
		"user_lockout": func(l string, p token.Pos, b *ast.ObjectType) error {
			return d.userLockout(s, l, p, b)
		},
	}
	seen := map[string]token.Pos{}
	for _, item := range list.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return err
		}
		if key == "audit" {
			if err := d.audit(s, item); err != nil {
				return err
			}
			continue
		}
		if handle, ok := blocks[key]; ok {
			if err := d.block(key, item, handle); err != nil {
				return err
			}
			continue
		}
		if err := d.setOnce(fields, seen, key, item); err != nil {
			return err
		}
	}
	return nil
}

// setOnce sets the top-level key of item with its setter in fields; an
// unknown key, a block where a value belongs and a key set twice are
// errors naming the line (and the first one's). seen holds the keys set so
// far.
func (d *decoder) setOnce(fields map[string]func(ast.Node) error, seen map[string]token.Pos, key string, item *ast.ObjectItem) error {
	kpos := item.Keys[0].Pos()
	set, ok := fields[key]
	if !ok {
		return d.errorf(kpos, ErrUnknownKey, "unknown key %q", key)
	}
	if len(item.Keys) != 1 {
		return d.errorf(kpos, ErrInvalidValue, "%q takes a value, not a block", key)
	}
	if first, dup := seen[key]; dup {
		return d.errorf(kpos, ErrDuplicate, "duplicate key %q (first set on line %d)", key, first.Line)
	}
	seen[key] = kpos
	return set(item.Val)
}

// block calls handle for each `kind "label" { ... }` in item, accepting
// the JSON shape `kind = { "label" = { ... } }` as well.
func (d *decoder) block(kind string, item *ast.ObjectItem, handle func(string, token.Pos, *ast.ObjectType) error) error {
	kpos := item.Keys[0].Pos()
	switch len(item.Keys) {
	case 2:
		label, err := d.key(item.Keys[1])
		if err != nil {
			return err
		}
		body, ok := item.Val.(*ast.ObjectType)
		if !ok {
			return d.errorf(item.Val.Pos(), ErrInvalidValue, "%s %q must be followed by a block { ... }", kind, label)
		}
		return handle(label, kpos, body)
	case 1:
		obj, ok := item.Val.(*ast.ObjectType)
		if !ok || len(obj.List.Items) == 0 {
			return d.errorf(kpos, ErrInvalidValue, "%s needs a type, as in %s \"TYPE\" { ... }", kind, kind)
		}
		for _, sub := range obj.List.Items {
			if _, isBlock := sub.Val.(*ast.ObjectType); !isBlock {
				return d.errorf(kpos, ErrInvalidValue, "%s needs a type, as in %s \"TYPE\" { ... }", kind, kind)
			}
			inner := &ast.ObjectItem{Keys: append([]*ast.ObjectKey{item.Keys[0]}, sub.Keys...), Val: sub.Val}
			if err := d.block(kind, inner, handle); err != nil {
				return err
			}
		}
		return nil
	default:
		return d.errorf(kpos, ErrInvalidValue, "%s takes exactly one type label", kind)
	}
}

// body applies fields to the items of one block; where names the block in
// messages ("listener \"tcp\"").
func (d *decoder) body(obj *ast.ObjectType, where string, fields map[string]func(ast.Node) error) (map[string]token.Pos, error) {
	seen := map[string]token.Pos{}
	for _, item := range obj.List.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return nil, err
		}
		kpos := item.Keys[0].Pos()
		set, ok := fields[key]
		if !ok {
			return nil, d.errorf(kpos, ErrUnknownKey, "unknown key %q in %s", key, where)
		}
		if len(item.Keys) != 1 {
			return nil, d.errorf(kpos, ErrInvalidValue, "%q in %s takes a value, not a block", key, where)
		}
		if first, dup := seen[key]; dup {
			return nil, d.errorf(kpos, ErrDuplicate, "duplicate key %q in %s (first set on line %d)", key, where, first.Line)
		}
		seen[key] = kpos
		if err := set(item.Val); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// validate checks what spans several keys, after every key is read.
func (d *decoder) validate(s *Server) error {
	if s.Storage.Type == "" {
		return &Error{File: d.file, Kind: ErrMissing, Msg: `missing storage block: add storage "file" { path = "/var/lib/coffer" } or storage "inmem" {}`}
	}
	if len(s.Listeners) == 0 {
		return &Error{File: d.file, Kind: ErrMissing, Msg: `missing listener block: add listener "tcp" { address = "127.0.0.1:8200" ... }`}
	}
	def, max := s.DefaultLeaseTTL, s.MaxLeaseTTL
	if def == 0 {
		def = DefaultLeaseTTL
	}
	if max == 0 {
		max = DefaultMaxLeaseTTL
	}
	if def > max {
		maxDesc := max.String()
		if s.MaxLeaseTTL == 0 {
			maxDesc += ", the default"
		}
		return &Error{File: d.file, Kind: ErrInvalidValue, Msg: fmt.Sprintf(
			"default_lease_ttl (%s) cannot be longer than max_lease_ttl (%s)", def, maxDesc)}
	}
	if s.APIAddr != "" {
		u, err := url.Parse(s.APIAddr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{File: d.file, Kind: ErrInvalidValue, Msg: fmt.Sprintf(
				"api_addr %q must be a URL such as https://coffer.example.com:8200", s.APIAddr)}
		}
	}
	return nil
}
