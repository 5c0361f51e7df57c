package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/hclsafe"
)

// Parse parses policy text written in Vault's HCL (or JSON) policy language
// into a Policy named name (normalised with NormalizeName).
//
// Every problem is a *ParseError naming the line and column; an empty name
// is ErrEmptyName and the name "root" is ErrRootPolicy. Parse never panics,
// whatever the input.
func Parse(name, text string) (*Policy, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	if n == RootName {
		return nil, ErrRootPolicy
	}
	return parseText(n, text)
}

// parseText does the work of Parse without the naming rules, so that Format
// can validate text that has no name yet.
func parseText(name, text string) (*Policy, error) {
	ps := &parser{name: name}
	if strings.TrimSpace(text) == "" {
		return nil, &ParseError{Policy: name, Msg: "policy text is empty"}
	}
	file, err := parseHCL(text)
	if err != nil {
		return nil, ps.syntaxError(err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, &ParseError{Policy: name, Msg: "policy does not contain a root object"}
	}
	p := &Policy{Name: name, Raw: text}
	for _, item := range list.Items {
		key, err := ps.key(item.Keys[0])
		if err != nil {
			return nil, err
		}
		switch key {
		case "name":
			// Vault accepts a top-level name and ignores it in favour of the
			// name in the API path; so do we.
			if len(item.Keys) != 1 {
				return nil, ps.errorf(item.Keys[1].Pos(), `"name" takes a value, not a block`)
			}
			if _, err := ps.stringValue(item.Val, "name"); err != nil {
				return nil, err
			}
		case "path":
			rules, err := ps.pathItem(item)
			if err != nil {
				return nil, err
			}
			p.Paths = append(p.Paths, rules...)
			for _, r := range rules {
				p.templated = p.templated || r.templated
			}
		default:
			return nil, ps.errorf(item.Keys[0].Pos(), "unknown key %q (expected \"path\")", key)
		}
	}
	if len(p.Paths) == 0 {
		// Text with only comments is almost certainly a mistake, and it
		// would silently grant nothing.
		return nil, &ParseError{Policy: name, Msg: `policy has no "path" blocks`}
	}
	return p, nil
}

// parseHCL parses HCL or JSON policy text without panicking.
func parseHCL(text string) (*ast.File, error) {
	file, err := hclsafe.Parse([]byte(text))
	switch {
	case errors.Is(err, hclsafe.ErrMalformed):
		return nil, errMalformed
	case errors.Is(err, hclsafe.ErrInvalidJSON):
		return nil, errInvalidJSON
	}
	return file, err
}

// parser carries the policy name into every error.
type parser struct {
	name string
}

func (ps *parser) errorf(pos token.Pos, format string, args ...any) *ParseError {
	return &ParseError{Policy: ps.name, Line: pos.Line, Column: pos.Column, Msg: fmt.Sprintf(format, args...)}
}

// syntaxError turns an HCL parser error into a ParseError, keeping the
// position when the parser gave one.
func (ps *parser) syntaxError(err error) *ParseError {
	var pe *hclparser.PosError
	if errors.As(err, &pe) {
		return ps.errorf(pe.Pos, "syntax error: %v", pe.Err)
	}
	return &ParseError{Policy: ps.name, Msg: fmt.Sprintf("syntax error: %v", err)}
}

// pathItem reads `path "pattern" { ... }`, and the JSON-shaped
// `path = { "pattern" = { ... } }`, into rules.
func (ps *parser) pathItem(item *ast.ObjectItem) ([]PathRule, error) {
	switch len(item.Keys) {
	case 2:
		pattern, err := ps.key(item.Keys[1])
		if err != nil {
			return nil, err
		}
		rule, err := ps.pathRule(pattern, item.Keys[1].Pos(), item.Val)
		if err != nil {
			return nil, err
		}
		return []PathRule{rule}, nil
	case 1:
		obj, ok := item.Val.(*ast.ObjectType)
		if !ok {
			return nil, ps.errorf(item.Val.Pos(), `"path" must be a block: path "secret/*" { capabilities = [...] }`)
		}
		var rules []PathRule
		for _, sub := range obj.List.Items {
			if len(sub.Keys) != 1 {
				return nil, ps.errorf(sub.Pos(), "path block takes exactly one pattern")
			}
			more, err := ps.pathItem(&ast.ObjectItem{Keys: []*ast.ObjectKey{item.Keys[0], sub.Keys[0]}, Val: sub.Val})
			if err != nil {
				return nil, err
			}
			rules = append(rules, more...)
		}
		return rules, nil
	default:
		return nil, ps.errorf(item.Keys[2].Pos(), "path block takes exactly one pattern")
	}
}

// pathRule reads the body of one path block.
func (ps *parser) pathRule(pattern string, pos token.Pos, val ast.Node) (PathRule, error) {
	rule := PathRule{Pattern: strings.TrimPrefix(pattern, "/"), Line: pos.Line}
	if err := ps.checkPattern(rule.Pattern, pos); err != nil {
		return rule, err
	}
	if err := ps.checkTemplated(&rule, pos); err != nil {
		return rule, err
	}
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return rule, ps.errorf(val.Pos(), "path %q must be followed by a block { ... }", pattern)
	}
	seen := map[string]token.Pos{}
	for _, item := range obj.List.Items {
		key, err := ps.key(item.Keys[0])
		if err != nil {
			return rule, err
		}
		kpos := item.Keys[0].Pos()
		if len(item.Keys) != 1 {
			return rule, ps.errorf(kpos, "%q takes a value, not a block", key)
		}
		if first, dup := seen[key]; dup {
			return rule, ps.errorf(kpos, "duplicate key %q (first set on line %d)", key, first.Line)
		}
		seen[key] = kpos
		if err := ps.pathKey(&rule, key, kpos, item.Val); err != nil {
			return rule, err
		}
	}
	rule.caps = rule.caps.normalize()
	rule.Capabilities = rule.caps.names()
	if rule.MinWrappingTTL > 0 && rule.MaxWrappingTTL > 0 && rule.MaxWrappingTTL < rule.MinWrappingTTL {
		return rule, ps.errorf(seen["max_wrapping_ttl"], "max_wrapping_ttl cannot be less than min_wrapping_ttl")
	}
	return rule, nil
}

func (ps *parser) checkPattern(pattern string, pos token.Pos) error {
	switch {
	case pattern == "":
		return ps.errorf(pos, "path pattern must not be empty")
	case strings.Contains(pattern, "+*"):
		return ps.errorf(pos, "path %q: invalid use of wildcards (\"+*\" is forbidden)", pattern)
	}
	return nil
}

// checkTemplated marks rule as templated when its pattern has directives,
// refusing braces that do not pair up.
func (ps *parser) checkTemplated(rule *PathRule, pos token.Pos) error {
	templated, err := checkTemplate(rule.Pattern)
	if err != nil {
		return ps.errorf(pos, "path %q: %v", rule.Pattern, err)
	}
	rule.templated = templated
	return nil
}

// pathKey applies one key of a path block to rule.
func (ps *parser) pathKey(rule *PathRule, key string, kpos token.Pos, val ast.Node) error {
	var err error
	switch key {
	case "comment":
		_, err = ps.stringValue(val, key)
	case "capabilities":
		err = ps.capabilities(rule, val)
	case "policy":
		var s string
		if s, err = ps.stringValue(val, key); err == nil {
			set, ok := legacyPolicies[s]
			if !ok {
				return ps.errorf(val.Pos(), "unknown policy %q (expected deny, read, write, sudo or list)", s)
			}
			rule.caps |= set
		}
	case "allowed_parameters":
		rule.AllowedParameters, err = ps.parameterMap(val, key)
	case "denied_parameters":
		rule.DeniedParameters, err = ps.parameterMap(val, key)
	case "required_parameters":
		var items []posString
		if items, err = ps.stringList(val, key); err == nil {
			for _, it := range items {
				rule.RequiredParameters = append(rule.RequiredParameters, strings.ToLower(it.s))
			}
		}
	case "min_wrapping_ttl":
		rule.MinWrappingTTL, err = ps.duration(val, key)
	case "max_wrapping_ttl":
		rule.MaxWrappingTTL, err = ps.duration(val, key)
	default:
		return ps.errorf(kpos, "unknown key %q in path %q", key, rule.Pattern)
	}
	return err
}

func (ps *parser) capabilities(rule *PathRule, val ast.Node) error {
	items, err := ps.stringList(val, "capabilities")
	if err != nil {
		return err
	}
	for _, it := range items {
		bit := capabilityBit(it.s)
		if bit == 0 {
			return ps.errorf(it.pos, "unknown capability %q", it.s)
		}
		rule.caps |= bit
	}
	return nil
}

// parameterMap reads `{ "name" = [values...] }` with lower-cased names.
func (ps *parser) parameterMap(val ast.Node, what string) (map[string][]any, error) {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil, ps.errorf(val.Pos(), "%s must be a map of parameter names to lists of values", what)
	}
	out := make(map[string][]any, len(obj.List.Items))
	for _, item := range obj.List.Items {
		name, err := ps.key(item.Keys[0])
		if err != nil {
			return nil, err
		}
		if len(item.Keys) != 1 {
			return nil, ps.errorf(item.Keys[1].Pos(), "%s: parameter %q takes a list of values", what, name)
		}
		values, err := ps.literalList(item.Val, what+"."+name)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(name)] = values
	}
	return out, nil
}

// duration reads Vault's "duration or seconds" form: 3600, "3600" or "1h".
func (ps *parser) duration(val ast.Node, what string) (time.Duration, error) {
	lit, ok := val.(*ast.LiteralType)
	if !ok {
		return 0, ps.errorf(val.Pos(), "%s must be a duration such as \"1h\" or a number of seconds", what)
	}
	v, err := hclsafe.TokenValue(lit.Token)
	if err != nil {
		return 0, ps.errorf(lit.Pos(), "%s: %v", what, err)
	}
	var d time.Duration
	switch x := v.(type) {
	case int64:
		d = time.Duration(x) * time.Second
	case string:
		if secs, perr := strconv.ParseInt(x, 10, 64); perr == nil {
			d = time.Duration(secs) * time.Second
		} else if d, perr = time.ParseDuration(x); perr != nil {
			return 0, ps.errorf(lit.Pos(), "%s: invalid duration %q", what, x)
		}
	default:
		return 0, ps.errorf(lit.Pos(), "%s must be a duration such as \"1h\" or a number of seconds", what)
	}
	if d < 0 {
		return 0, ps.errorf(lit.Pos(), "%s must not be negative", what)
	}
	return d, nil
}
