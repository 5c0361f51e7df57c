package policy

import (
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/hclsafe"
)

// posString is a string value with where it was written, so that an error
// about one list element can point at it.
type posString struct {
	s   string
	pos token.Pos
}

// key returns the text of an object key (identifier or quoted string).
func (ps *parser) key(k *ast.ObjectKey) (string, error) {
	v, err := hclsafe.TokenValue(k.Token)
	if err != nil {
		return "", ps.errorf(k.Pos(), "invalid key: %v", err)
	}
	s, ok := v.(string)
	if !ok {
		return "", ps.errorf(k.Pos(), "invalid key %s", k.Token.Text)
	}
	return s, nil
}

// stringValue requires val to be a single string literal.
func (ps *parser) stringValue(val ast.Node, what string) (string, error) {
	lit, ok := val.(*ast.LiteralType)
	if ok {
		v, err := hclsafe.TokenValue(lit.Token)
		if err != nil {
			return "", ps.errorf(lit.Pos(), "%s: %v", what, err)
		}
		if s, ok := v.(string); ok && lit.Token.Type != token.IDENT {
			return s, nil
		}
	}
	return "", ps.errorf(val.Pos(), "%s must be a string", what)
}

// stringList requires a list of strings; a single string is accepted as a
// list of one, as Vault's decoder does.
func (ps *parser) stringList(val ast.Node, what string) ([]posString, error) {
	if _, ok := val.(*ast.LiteralType); ok {
		s, err := ps.stringValue(val, what)
		if err != nil {
			return nil, ps.errorf(val.Pos(), "%s must be a list of strings", what)
		}
		return []posString{{s, val.Pos()}}, nil
	}
	list, ok := val.(*ast.ListType)
	if !ok {
		return nil, ps.errorf(val.Pos(), "%s must be a list of strings", what)
	}
	out := make([]posString, 0, len(list.List))
	for _, el := range list.List {
		s, err := ps.stringValue(el, what)
		if err != nil {
			return nil, ps.errorf(el.Pos(), "%s must be a list of strings", what)
		}
		out = append(out, posString{s, el.Pos()})
	}
	return out, nil
}

// literalList reads a list of literals (string, number, bool) into Go
// values; a single literal is a list of one.
func (ps *parser) literalList(val ast.Node, what string) ([]any, error) {
	var nodes []ast.Node
	switch v := val.(type) {
	case *ast.ListType:
		nodes = v.List
	case *ast.LiteralType:
		nodes = []ast.Node{v}
	default:
		return nil, ps.errorf(val.Pos(), "%s must be a list of values", what)
	}
	out := make([]any, 0, len(nodes))
	for _, n := range nodes {
		lit, ok := n.(*ast.LiteralType)
		if !ok || lit.Token.Type == token.IDENT {
			return nil, ps.errorf(n.Pos(), "%s must be a list of strings, numbers or booleans", what)
		}
		v, err := hclsafe.TokenValue(lit.Token)
		if err != nil {
			return nil, ps.errorf(lit.Pos(), "%s: %v", what, err)
		}
		out = append(out, v)
	}
	return out, nil
}
