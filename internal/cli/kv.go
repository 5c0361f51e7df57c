package cli

import (
	"fmt"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// kvCommand is the KV engine's own command. Like Vault's, every
// subcommand first asks sys/internal/ui/mounts which mount holds the path
// and which KV version it runs, then uses the version's API paths (data/,
// metadata/, delete/, undelete/, destroy/ under the mount for version 2).
func (e *env) kvCommand() *ucli.Command {
	versions := &ucli.StringFlag{Name: "versions", Usage: "comma-separated version numbers, e.g. 1,2"}
	cas := &ucli.IntFlag{Name: "cas", Value: -1, Usage: "write only if the current version is this (0: only if absent)"}
	return &ucli.Command{
		Name:  "kv",
		Usage: "Read and write secrets in a KV engine (version 1 or 2)",
		Subcommands: []*ucli.Command{
			e.kvLeaf("put", "Write a secret, replacing all of its data", "PATH K=V... | @FILE | -", runKVPut, cas),
			e.kvLeaf("get", "Read a secret (the latest version unless -version)", "PATH", runKVGet,
				&ucli.IntFlag{Name: "version", Usage: "version to read (KV v2)"}),
			e.kvLeaf("patch", "Merge new data into a secret (KV v2)", "PATH K=V... | @FILE | -", runKVPatch, cas),
			e.kvLeaf("delete", "Delete the latest version, or the -versions given (KV v2 keeps them recoverable)", "PATH", runKVDelete, versions),
			e.kvLeaf("undelete", "Restore deleted versions (KV v2)", "PATH", runKVUndelete, versions),
			e.kvLeaf("destroy", "Permanently erase versions (KV v2)", "PATH", runKVDestroy, versions),
			e.kvLeaf("list", "List the keys under a path", "PATH", runKVList),
			e.kvMetadataCommand(),
		},
	}
}

// kvLeaf builds one kv subcommand with the -mount flag and the given flags.
func (e *env) kvLeaf(name, usage, args string, act action, flags ...ucli.Flag) *ucli.Command {
	flags = append(flags, &ucli.StringFlag{Name: "mount", Usage: "KV mount; PATH is then relative to it"})
	return e.clientCommand(&ucli.Command{Name: name, Usage: usage, ArgsUsage: args, Flags: flags}, act)
}

// kvPath is a user's KV path resolved against the server's mount table.
type kvPath struct {
	mount string // "secret/"; empty when the server did not say
	rel   string // the path under the mount, without slashes at the ends
	v2    bool
}

// resolveKV asks the server which mount holds arg (or -mount) and whether
// it is KV version 2. A 404 means a server without the lookup: then the
// path is used as it is, as KV version 1.
func (s *session) resolveKV(arg string) (kvPath, error) {
	arg = strings.Trim(arg, "/")
	lookup := arg
	if m := s.c.String("mount"); m != "" {
		lookup = strings.Trim(m, "/")
	}
	// The lookup itself is never wrapped, as in Vault's CLI: only the
	// answer the user asked for is.
	wrap := s.client.CurrentWrappingLookupFunc()
	s.client.SetWrappingLookupFunc(func(string, string) string { return "" })
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/internal/ui/mounts/"+lookup)
	s.client.SetWrappingLookupFunc(wrap)
	if err != nil {
		return kvPath{}, serverError("looking up the mount of "+lookup, err)
	}
	if sec == nil || sec.Data == nil {
		return kvPath{rel: arg}, nil
	}
	mount, _ := sec.Data["path"].(string)
	k := kvPath{mount: mountPath(mount)}
	if opts, ok := sec.Data["options"].(map[string]any); ok {
		k.v2 = fmt.Sprint(opts["version"]) == "2"
	}
	if s.c.String("mount") != "" {
		k.rel = arg
	} else {
		k.rel = strings.Trim(strings.TrimPrefix(arg+"/", k.mount), "/")
	}
	return k, nil
}

// api returns the request path: for version 2 the mount, the API prefix
// ("data", "metadata", …) and the path; for version 1 mount and path only.
func (k kvPath) api(prefix string) string {
	parts := []string{strings.TrimSuffix(k.mount, "/")}
	if k.v2 {
		parts = append(parts, prefix)
	}
	if k.rel != "" {
		parts = append(parts, k.rel)
	}
	return strings.TrimPrefix(strings.Join(parts, "/"), "/")
}

// kvBody wraps data for KV v2 writes, with the check-and-set option when
// -cas was given.
func (s *session) kvBody(k kvPath, data map[string]any) map[string]any {
	if !k.v2 {
		return data
	}
	body := map[string]any{"data": data}
	if s.c.IsSet("cas") {
		body["options"] = map[string]any{"cas": s.c.Int("cas")}
	}
	return body
}

func runKVPut(s *session) error {
	if err := s.wantArgs(2, -1); err != nil {
		return err
	}
	data, err := s.parseData(s.args[1:])
	if err != nil {
		return usageError("parsing arguments", err)
	}
	if len(data) == 0 {
		return usageError("parsing arguments", errNoData)
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	p := k.api("data")
	sec, err := s.client.Logical().WriteWithContext(s.ctx, p, s.kvBody(k, data))
	if err != nil {
		return serverError("writing data to "+p, err)
	}
	return s.printKVWrite(k, sec, p)
}

func runKVPatch(s *session) error {
	if err := s.wantArgs(2, -1); err != nil {
		return err
	}
	data, err := s.parseData(s.args[1:])
	if err != nil {
		return usageError("parsing arguments", err)
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	if !k.v2 {
		return usageError("patching "+k.api(""), errNotKVv2)
	}
	p := k.api("data")
	sec, err := s.client.Logical().JSONMergePatch(s.ctx, p, s.kvBody(k, data))
	if err != nil {
		return serverError("patching data at "+p, err)
	}
	if sec == nil {
		return notFound(p)
	}
	return s.printKVWrite(k, sec, p)
}

// printKVWrite prints a write's answer: for KV v2 the new version's
// metadata under the secret's path, for KV v1 Vault's success line.
func (s *session) printKVWrite(k kvPath, sec *api.Secret, p string) error {
	if !k.v2 || sec == nil || sec.WrapInfo != nil {
		return s.writeResult(sec, "Data written to: %s", p)
	}
	if s.out.format != "table" || s.out.field != "" {
		return s.out.secret(sec)
	}
	s.out.warnings(sec)
	s.out.heading("Secret Path")
	fmt.Fprintf(s.stdout, "%s\n\n", p)
	s.out.heading("Metadata")
	return s.out.table(mapRows(sec.Data))
}

func runKVGet(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	p := k.api("data")
	var query map[string][]string
	if v := s.c.Int("version"); v > 0 && k.v2 {
		query = map[string][]string{"version": {fmt.Sprint(v)}}
	}
	sec, err := s.client.Logical().ReadWithDataWithContext(s.ctx, p, query)
	if err != nil {
		return serverError("reading "+p, err)
	}
	if sec == nil {
		return notFound(p)
	}
	return s.printKVGet(k, sec, p)
}

// printKVGet prints a read like Vault: for KV v2 the path, the version's
// metadata and the data in sections; -field looks inside the data.
func (s *session) printKVGet(k kvPath, sec *api.Secret, p string) error {
	if sec.WrapInfo != nil {
		return s.out.secret(sec)
	}
	data := sec.Data
	if k.v2 {
		data, _ = sec.Data["data"].(map[string]any)
	}
	if s.out.field != "" {
		if data == nil {
			return &exitError{code: exitServer, msg: "No data found at " + p}
		}
		return s.out.data(data)
	}
	if s.out.format != "table" {
		return s.out.secret(sec)
	}
	s.out.warnings(sec)
	if k.v2 {
		s.out.heading("Secret Path")
		fmt.Fprintf(s.stdout, "%s\n\n", p)
		if md, ok := sec.Data["metadata"].(map[string]any); ok {
			s.out.heading("Metadata")
			if err := s.out.table(mapRows(md)); err != nil {
				return err
			}
		}
	}
	if data == nil {
		return nil
	}
	if k.v2 {
		fmt.Fprintln(s.stdout)
	}
	s.out.heading("Data")
	return s.out.table(append(leaseRows(sec), mapRows(data)...))
}

// leaseRows is the lease part of a response, for KV v1 secrets that carry
// a refresh interval.
func leaseRows(sec *api.Secret) []row {
	return secretRows(&api.Secret{LeaseID: sec.LeaseID, LeaseDuration: sec.LeaseDuration, Renewable: sec.Renewable})
}

func runKVList(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	p := k.api("metadata")
	sec, err := s.client.Logical().ListWithContext(s.ctx, p)
	if err != nil {
		return serverError("listing "+p, err)
	}
	return s.printKeys(sec, p)
}
