package agent

import (
	"fmt"
	"os"
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

// Rendered tells whether every template of cfg has been rendered: its
// destination is a regular file. It is the startup probe of an injected
// native sidecar (`coffer agent -rendered`), which the kubelet runs until
// it succeeds before it starts the pod's other containers. The agent
// writes each destination in one rename, so a file that is there is
// whole. Rendered reads no file's contents and contacts no server; the
// error wraps ErrNotRendered and names the first destination missing.
func Rendered(cfg *config.Agent) error {
	for _, t := range cfg.Templates {
		fi, err := os.Stat(t.Destination)
		switch {
		case err != nil && os.IsNotExist(err):
			return fmt.Errorf("%s: %w", t.Destination, ErrNotRendered)
		case err != nil:
			return fmt.Errorf("%s: %w", t.Destination, err)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file: %w", t.Destination, ErrNotRendered)
		}
	}
	return nil
}
