package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/cofferhq/coffer/internal/hclsafe"
)

// key returns the text of an object key.
func (d *decoder) key(k *ast.ObjectKey) (string, error) {
	v, err := hclsafe.TokenValue(k.Token)
	if s, ok := v.(string); ok && err == nil {
		return s, nil
	}
	return "", d.errorf(k.Pos(), ErrSyntax, "invalid key %s", k.Token.Text)
}

// literal returns the Go value of a literal node, or an error naming key.
func (d *decoder) literal(v ast.Node, key, want string) (any, token.Type, error) {
	lit, ok := v.(*ast.LiteralType)
	if !ok || lit.Token.Type == token.IDENT {
		return nil, 0, d.errorf(v.Pos(), ErrInvalidValue, "%q must be %s", key, want)
	}
	val, err := hclsafe.TokenValue(lit.Token)
	if err != nil {
		return nil, 0, d.errorf(v.Pos(), ErrInvalidValue, "%q must be %s: %v", key, want, err)
	}
	return val, lit.Token.Type, nil
}

func (d *decoder) stringInto(dst *string, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		val, typ, err := d.literal(v, key, "a string")
		if err != nil {
			return err
		}
		s, ok := val.(string)
		if !ok || (typ != token.STRING && typ != token.HEREDOC) {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be a string", key)
		}
		*dst = s
		return nil
	}
}

// boolInto accepts true/false, and, as Vault does, the strings and numbers
// strconv.ParseBool understands ("true", "1", "false", "0", ...).
func (d *decoder) boolInto(dst *bool, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		val, _, err := d.literal(v, key, "true or false")
		if err != nil {
			return err
		}
		var text string
		switch x := val.(type) {
		case bool:
			*dst = x
			return nil
		case string:
			text = x
		case int64:
			text = strconv.FormatInt(x, 10)
		default:
			text = fmt.Sprint(x)
		}
		b, perr := strconv.ParseBool(strings.TrimSpace(text))
		if perr != nil {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be true or false, not %q", key, text)
		}
		*dst = b
		return nil
	}
}

// intInto accepts an integer or a string holding one.
func (d *decoder) intInto(dst *int64, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		val, _, err := d.literal(v, key, "an integer")
		if err != nil {
			return err
		}
		switch x := val.(type) {
		case int64:
			*dst = x
			return nil
		case string:
			n, perr := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if perr == nil {
				*dst = n
				return nil
			}
		}
		return d.errorf(v.Pos(), ErrInvalidValue, "%q must be an integer", key)
	}
}

// durationInto accepts a Go duration string ("768h", "90m") or a number
// of seconds, as an integer or a string.
func (d *decoder) durationInto(dst *time.Duration, key string) func(ast.Node) error {
	const want = `a duration such as "768h" or a number of seconds`
	return func(v ast.Node) error {
		val, _, err := d.literal(v, key, want)
		if err != nil {
			return err
		}
		var dur time.Duration
		tooBig := func(secs int64) bool { return secs > math.MaxInt64/int64(time.Second) }
		switch x := val.(type) {
		case int64:
			if tooBig(x) {
				return d.errorf(v.Pos(), ErrInvalidValue, "%q is too large", key)
			}
			dur = time.Duration(x) * time.Second
		case string:
			x = strings.TrimSpace(x)
			if secs, perr := strconv.ParseInt(x, 10, 64); perr == nil {
				if tooBig(secs) {
					return d.errorf(v.Pos(), ErrInvalidValue, "%q is too large", key)
				}
				dur = time.Duration(secs) * time.Second
			} else if dur, perr = time.ParseDuration(x); perr != nil {
				return d.errorf(v.Pos(), ErrInvalidValue, "%q must be %s, not %q", key, want, x)
			}
		default:
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be %s", key, want)
		}
		if dur <= 0 {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be positive", key)
		}
		*dst = dur
		return nil
	}
}
