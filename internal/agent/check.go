package agent

import (
	"fmt"
	"text/template"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// CheckTemplate parses a template's contents with the functions the agent
// offers (secret lookups included, as stubs that are never called), so a
// program that generates agent configurations (the injector) can refuse a
// template that `coffer agent` would refuse, before any pod runs it. It
// reads no file and contacts no server: a template given by Source is not
// checked. The error names the destination, never the contents.
func CheckTemplate(tc config.Template) error {
	if tc.Source != "" {
		return nil
	}
	fm := funcs()
	fm["secret"] = func(string, ...string) (*api.Secret, error) { return nil, nil }
	fm["secrets"] = func(string) ([]string, error) { return nil, nil }
	_, err := template.New(tc.Destination).Delims(tc.LeftDelimiter, tc.RightDelimiter).Funcs(fm).Parse(tc.Contents)
	if err != nil {
		return fmt.Errorf("template for %s: %w", tc.Destination, err)
	}
	return nil
}
