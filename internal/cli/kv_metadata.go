package cli

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// kvMetadataCommand manages a KV v2 secret's metadata: its settings and
// the list of its versions.
func (e *env) kvMetadataCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "metadata",
		Usage: "Read, configure and delete a KV v2 secret's metadata and versions",
		Subcommands: []*ucli.Command{
			e.kvLeaf("get", "Print a secret's settings and versions", "PATH", runKVMetadataGet),
			e.kvLeaf("put", "Change a secret's settings", "PATH", runKVMetadataPut,
				&ucli.IntFlag{Name: "max-versions", Usage: "versions to keep; 0 means the mount's setting"},
				&ucli.BoolFlag{Name: "cas-required", Usage: "require -cas on every write"},
				&ucli.StringFlag{Name: "delete-version-after", Usage: "delete versions this long after writing, e.g. 720h; 0s disables"},
				&ucli.StringSliceFlag{Name: "custom-metadata", Usage: "k=v; repeat for several (replaces all custom metadata)"},
			),
			e.kvLeaf("delete", "Delete a secret's metadata and every version, permanently", "PATH", runKVMetadataDelete),
		},
	}
}

// kvV2 resolves arg and insists on a KV v2 mount.
func (s *session) kvV2(arg, doing string) (kvPath, error) {
	k, err := s.resolveKV(arg)
	if err != nil {
		return k, err
	}
	if !k.v2 {
		return k, usageError(doing+k.api(""), errNotKVv2)
	}
	return k, nil
}

func runKVMetadataGet(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.kvV2(s.arg(0), "reading metadata of ")
	if err != nil {
		return err
	}
	p := k.api("metadata")
	sec, err := s.client.Logical().ReadWithContext(s.ctx, p)
	if err != nil {
		return serverError("reading "+p, err)
	}
	if sec == nil {
		return notFound(p)
	}
	if s.out.format != "table" || s.out.field != "" {
		return s.out.secret(sec)
	}
	return s.printMetadata(sec, p)
}

// printMetadata prints the settings table, then one table per version,
// oldest first.
func (s *session) printMetadata(sec *api.Secret, p string) error {
	s.out.warnings(sec)
	s.out.heading("Metadata Path")
	fmt.Fprintf(s.stdout, "%s\n\n", p)
	settings := map[string]any{}
	for k, v := range sec.Data {
		if k != "versions" {
			settings[k] = v
		}
	}
	s.out.heading("Metadata")
	if err := s.out.table(mapRows(settings)); err != nil {
		return err
	}
	versions, _ := sec.Data["versions"].(map[string]any)
	nums := make([]int, 0, len(versions))
	for v := range versions {
		if n, err := strconv.Atoi(v); err == nil {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		info, _ := versions[strconv.Itoa(n)].(map[string]any)
		fmt.Fprintln(s.stdout)
		s.out.heading("Version " + strconv.Itoa(n))
		if err := s.out.table(mapRows(info)); err != nil {
			return err
		}
	}
	return nil
}

func runKVMetadataPut(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	custom, err := parsePairs("custom-metadata", s.c.StringSlice("custom-metadata"))
	if err != nil {
		return usageError("parsing flags", err)
	}
	body := map[string]any{}
	if s.c.IsSet("max-versions") {
		body["max_versions"] = s.c.Int("max-versions")
	}
	if s.c.IsSet("cas-required") {
		body["cas_required"] = s.c.Bool("cas-required")
	}
	if s.c.IsSet("delete-version-after") {
		body["delete_version_after"] = s.c.String("delete-version-after")
	}
	if custom != nil {
		body["custom_metadata"] = custom
	}
	k, err := s.kvV2(s.arg(0), "writing metadata of ")
	if err != nil {
		return err
	}
	p := k.api("metadata")
	sec, err := s.client.Logical().WriteWithContext(s.ctx, p, body)
	if err != nil {
		return serverError("writing "+p, err)
	}
	return s.writeResult(sec, "Data written to: %s", p)
}

func runKVMetadataDelete(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.kvV2(s.arg(0), "deleting metadata of ")
	if err != nil {
		return err
	}
	p := k.api("metadata")
	if _, err := s.client.Logical().DeleteWithContext(s.ctx, p); err != nil {
		return serverError("deleting "+p, err)
	}
	return s.success("Data deleted (if it existed) at: %s", p)
}
