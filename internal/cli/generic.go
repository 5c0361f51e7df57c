package cli

import (
	"fmt"
	"net/url"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// The generic commands reach any API path, as Vault's read/write/list/
// delete/patch do; they are how engines without their own command are used.

func (e *env) readCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name: "read", Usage: "Read data at any path; key=value arguments become query parameters", ArgsUsage: "PATH [K=V...]",
	}, runRead)
}

func (e *env) writeCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name: "write", Usage: "Write data to any path", ArgsUsage: "PATH [K=V... | @FILE | -]",
		Flags: []ucli.Flag{&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "allow writing with no data"}},
	}, runWrite)
}

func (e *env) listCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{Name: "list", Usage: "List the keys under any path", ArgsUsage: "PATH"}, runList)
}

func (e *env) deleteCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name: "delete", Usage: "Delete data at any path; key=value arguments become query parameters", ArgsUsage: "PATH [K=V...]",
	}, runDelete)
}

func (e *env) patchCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name: "patch", Usage: "Merge data into any path with a JSON merge patch", ArgsUsage: "PATH [K=V... | @FILE | -]",
	}, runPatch)
}

func runRead(s *session) error {
	if err := s.wantArgs(1, -1); err != nil {
		return err
	}
	path := s.arg(0)
	query, err := s.queryArgs(s.args[1:])
	if err != nil {
		return err
	}
	sec, err := s.client.Logical().ReadWithDataWithContext(s.ctx, path, query)
	if err != nil {
		return serverError("reading "+path, err)
	}
	if sec == nil {
		return notFound(path)
	}
	return s.out.secret(sec)
}

func runWrite(s *session) error {
	if err := s.wantArgs(1, -1); err != nil {
		return err
	}
	path := s.arg(0)
	data, err := s.parseData(s.args[1:])
	if err != nil {
		return usageError("parsing arguments", err)
	}
	if len(data) == 0 && !s.c.Bool("force") {
		return usageErrorf("Must supply data or use -force")
	}
	sec, err := s.client.Logical().WriteWithContext(s.ctx, path, data)
	if err != nil {
		return serverError("writing data to "+path, err)
	}
	return s.writeResult(sec, "Data written to: %s", path)
}

func runList(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := s.arg(0)
	sec, err := s.client.Logical().ListWithContext(s.ctx, path)
	if err != nil {
		return serverError("listing "+path, err)
	}
	return s.printKeys(sec, path)
}

func runDelete(s *session) error {
	if err := s.wantArgs(1, -1); err != nil {
		return err
	}
	path := s.arg(0)
	query, err := s.queryArgs(s.args[1:])
	if err != nil {
		return err
	}
	if _, err := s.client.Logical().DeleteWithDataWithContext(s.ctx, path, query); err != nil {
		return serverError("deleting "+path, err)
	}
	return s.success("Data deleted (if it existed) at: %s", path)
}

func runPatch(s *session) error {
	if err := s.wantArgs(2, -1); err != nil {
		return err
	}
	path := s.arg(0)
	data, err := s.parseData(s.args[1:])
	if err != nil {
		return usageError("parsing arguments", err)
	}
	sec, err := s.client.Logical().JSONMergePatch(s.ctx, path, data)
	if err != nil {
		return serverError("patching "+path, err)
	}
	return s.writeResult(sec, "Data written to: %s", path)
}

// queryArgs turns key=value arguments into query parameters.
func (s *session) queryArgs(args []string) (map[string][]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	data, err := s.parseData(args)
	if err != nil {
		return nil, usageError("parsing arguments", err)
	}
	q := url.Values{}
	for k, v := range data {
		if list, ok := v.([]any); ok {
			for _, e := range list {
				q.Add(k, fmt.Sprint(e))
			}
			continue
		}
		q.Set(k, fmt.Sprint(v))
	}
	return q, nil
}

// writeResult prints the response of a write, or Vault's success line when
// the server answered 204 with no body.
func (s *session) writeResult(sec *api.Secret, format string, args ...any) error {
	if sec == nil {
		return s.success(format, args...)
	}
	return s.out.secret(sec)
}

// printKeys prints a LIST response: the keys under a "Keys" heading, or
// as a JSON/YAML list. A missing list is Vault's "No value found" (exit 2).
func (s *session) printKeys(sec *api.Secret, path string) error {
	keys, err := listKeys(sec, path)
	if err != nil || s.out.field != "" {
		if err == nil {
			err = s.out.secret(sec)
		}
		return err
	}
	if s.out.format != "table" {
		return s.out.structured(keys)
	}
	s.out.warnings(sec)
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{k}
	}
	return s.out.columns([]string{"Keys"}, rows)
}

// listKeys extracts data.keys from a LIST response.
func listKeys(sec *api.Secret, path string) ([]string, error) {
	if sec == nil || sec.Data == nil {
		return nil, notFound(path)
	}
	raw, ok := sec.Data["keys"].([]any)
	if !ok {
		return nil, notFound(path)
	}
	keys := make([]string, len(raw))
	for i, k := range raw {
		keys[i] = fmt.Sprint(k)
	}
	return keys, nil
}
