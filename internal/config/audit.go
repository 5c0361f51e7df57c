package config

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Audit is one audit block: `audit "TYPE" "PATH" { description = "…",
// options { file_path = "…" } }`, as OpenBao declares audit devices.
// Options may also be written directly in the block. The server enables
// the device at every start when it is missing, makes it match the file
// when it changed, and disables a declared device whose block is gone.
type Audit struct {
	Type        string
	Path        string
	Description string
	Local       bool
	Options     map[string]string
	Line        int
}

// audit reads an audit item, whose keys hold the type and the path either
// as labels or, in the JSON shape, as nested objects.
func (d *decoder) audit(s *Server, item *ast.ObjectItem) error {
	kpos := item.Keys[0].Pos()
	if len(item.Keys) == 3 {
		typ, err := d.key(item.Keys[1])
		if err != nil {
			return err
		}
		path, err := d.key(item.Keys[2])
		if err != nil {
			return err
		}
		body, ok := item.Val.(*ast.ObjectType)
		if !ok {
			return d.errorf(item.Val.Pos(), ErrInvalidValue, "audit %q %q must be followed by a block { ... }", typ, path)
		}
		return d.auditBody(s, typ, path, kpos, body)
	}
	obj, ok := item.Val.(*ast.ObjectType)
	if len(item.Keys) > 3 || !ok || len(obj.List.Items) == 0 {
		return d.errorf(kpos, ErrInvalidValue, `audit needs a type and a path, as in audit "file" "main" { options { file_path = "/var/log/coffer/audit.log" } }`)
	}
	for _, sub := range obj.List.Items {
		inner := &ast.ObjectItem{Keys: append(slices.Clone(item.Keys), sub.Keys...), Val: sub.Val}
		if err := d.audit(s, inner); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) auditBody(s *Server, typ, path string, pos token.Pos, body *ast.ObjectType) error {
	for _, prev := range s.Audits {
		if prev.Path == path {
			return d.errorf(pos, ErrDuplicate, "two audit blocks for path %q (first on line %d)", path, prev.Line)
		}
	}
	a := Audit{Type: typ, Path: path, Line: pos.Line, Options: map[string]string{}}
	where := fmt.Sprintf("audit %q %q", typ, path)
	for _, item := range body.List.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return err
		}
		switch {
		case key == "description":
			err = d.stringInto(&a.Description, "description")(item.Val)
		case key == "local":
			err = d.boolInto(&a.Local, "local")(item.Val)
		case key == "options":
			obj, ok := item.Val.(*ast.ObjectType)
			if !ok {
				return d.errorf(item.Val.Pos(), ErrInvalidValue, "options in %s must be a block { key = \"value\" }", where)
			}
			for _, o := range obj.List.Items {
				if err := d.auditOption(a.Options, o, where); err != nil {
					return err
				}
			}
		default:
			err = d.auditOption(a.Options, item, where)
		}
		if err != nil {
			return err
		}
	}
	s.Audits = append(s.Audits, a)
	return nil
}

// auditOption reads one option; numbers and booleans become strings, as
// the API takes them.
func (d *decoder) auditOption(opts map[string]string, item *ast.ObjectItem, where string) error {
	key, err := d.key(item.Keys[0])
	if err != nil {
		return err
	}
	if len(item.Keys) != 1 {
		return d.errorf(item.Keys[0].Pos(), ErrInvalidValue, "%q in %s takes a value, not a block", key, where)
	}
	val, _, err := d.literal(item.Val, key, "a string, number or boolean")
	if err != nil {
		return err
	}
	if _, dup := opts[key]; dup {
		return d.errorf(item.Keys[0].Pos(), ErrDuplicate, "option %q is set twice in %s", key, where)
	}
	switch x := val.(type) {
	case string:
		opts[key] = x
	case bool:
		opts[key] = strconv.FormatBool(x)
	case int64:
		opts[key] = strconv.FormatInt(x, 10)
	default:
		opts[key] = fmt.Sprint(x)
	}
	return nil
}
