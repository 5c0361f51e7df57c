package policy

import (
	"bytes"

	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/hashicorp/hcl/hcl/printer"
)

// Format returns policy text in canonical HCL layout, for `coffer policy
// fmt`. The text must be a valid policy; otherwise Format returns the same
// *ParseError that Parse would (without a policy name). Comments are kept.
func Format(text string) (string, error) {
	if _, err := parseText("", text); err != nil {
		return "", err
	}
	ps := &parser{}
	file, err := parseHCL(text)
	if err != nil {
		return "", ps.syntaxError(err)
	}
	out, err := print(file)
	if err != nil {
		return "", &ParseError{Msg: "cannot format: " + err.Error()}
	}
	return out, nil
}

// print runs the HCL printer, which like the parser may panic on unusual
// trees; a panic becomes an error.
func print(file *ast.File) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", errMalformed
		}
	}()
	var buf bytes.Buffer
	if err := printer.Fprint(&buf, file); err != nil {
		return "", err
	}
	buf.WriteByte('\n')
	return buf.String(), nil
}
