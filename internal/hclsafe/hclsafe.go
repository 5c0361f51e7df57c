// Package hclsafe wraps the parts of the HCL v1 library that Coffer feeds
// with user input (policies, configuration files) so that malformed input
// becomes an error instead of a panic. It is not a decoder: callers walk the
// AST themselves to report positions in their own terms.
package hclsafe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
	jsonparser "github.com/hashicorp/hcl/json/parser"
)

var (
	// ErrMalformed is returned when the HCL library gives up on the input
	// by panicking.
	ErrMalformed = errors.New("malformed input")
	// ErrInvalidJSON is returned for input that starts with '{' (and so is
	// read as JSON, as hcl.Parse does) but is not valid JSON.
	ErrInvalidJSON = errors.New("input starts with '{' but is not valid JSON")
)

// Parse picks the JSON or HCL parser the way hcl.Parse does, but keeps
// duplicate keys so that callers can report them with a line. JSON is
// checked with encoding/json first because the library's JSON scanner
// panics on some malformed input; any other panic becomes ErrMalformed.
// Syntax errors are returned as the library reports them (with positions).
func Parse(src []byte) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file, err = nil, ErrMalformed
		}
	}()
	if strings.HasPrefix(strings.TrimLeftFunc(string(src), unicode.IsSpace), "{") {
		if !json.Valid(src) {
			return nil, ErrInvalidJSON
		}
		return jsonparser.Parse(src)
	}
	return hclparser.ParseDontErrorOnDuplicateKeys(src)
}

// TokenValue is token.Value without its panics (it panics, for example, on
// an integer literal that overflows int64).
func TokenValue(t token.Token) (v any, err error) {
	switch t.Type {
	case token.NUMBER:
		n, perr := strconv.ParseInt(t.Text, 0, 64)
		if perr != nil {
			return nil, fmt.Errorf("invalid number %s", t.Text)
		}
		return n, nil
	case token.FLOAT:
		f, perr := strconv.ParseFloat(t.Text, 64)
		if perr != nil {
			return nil, fmt.Errorf("invalid number %s", t.Text)
		}
		return f, nil
	case token.BOOL, token.IDENT, token.STRING, token.HEREDOC:
	default:
		return nil, fmt.Errorf("unexpected %s", t.Type)
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("invalid literal %s", t.Text)
		}
	}()
	return t.Value(), nil
}
