package cli

import (
	"sort"
	"strconv"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// secretsCommand manages secrets engine mounts at sys/mounts.
func (e *env) secretsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "secrets",
		Usage: "Enable, list, tune, move and disable secrets engines",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name: "enable", Usage: "Mount a secrets engine (kv-v2 means kv with version 2)", ArgsUsage: "TYPE",
				Flags: append(mountConfigFlags(), &ucli.StringFlag{Name: "path", Usage: "mount path (default: the type)"},
					&ucli.IntFlag{Name: "version", Usage: "KV version: 1 or 2"}),
			}, runSecretsEnable),
			e.clientCommand(&ucli.Command{Name: "disable", Usage: "Unmount a secrets engine, deleting its data", ArgsUsage: "PATH"}, runSecretsDisable),
			e.clientCommand(&ucli.Command{
				Name: "list", Usage: "List mounted secrets engines",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "detailed", Usage: "show TTLs, options and UUIDs too"}},
			}, runSecretsList),
			e.clientCommand(&ucli.Command{Name: "tune", Usage: "Change a mount's description, TTLs, options or other settings", ArgsUsage: "PATH", Flags: tuneFlags()}, runSecretsTune),
			e.moveCommand("secrets engine", false),
		},
	}
}

// mountConfigFlags are shared by enable and tune.
func mountConfigFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "description", Usage: "human-readable description of the mount"},
		&ucli.StringFlag{Name: "default-lease-ttl", Usage: "default lease TTL, e.g. 1h"},
		&ucli.StringFlag{Name: "max-lease-ttl", Usage: "maximum lease TTL"},
		&ucli.StringSliceFlag{Name: "options", Usage: "k=v engine option; repeat for several"},
	}
}

// tuneFlags are mountConfigFlags plus the settings only tune changes, as
// Vault's `secrets tune` has them.
func tuneFlags() []ucli.Flag {
	return append(mountConfigFlags(),
		&ucli.IntFlag{Name: "version", Usage: "KV version; 1 → 2 upgrades the data in place"},
		&ucli.StringFlag{Name: "listing-visibility", Usage: `"unauth" lists the mount without a token; "hidden" or ""`},
		&ucli.StringSliceFlag{Name: "audit-non-hmac-request-keys", Usage: "request key audit devices log in the clear; repeat for several"},
		&ucli.StringSliceFlag{Name: "audit-non-hmac-response-keys", Usage: "response key audit devices log in the clear; repeat for several"},
		&ucli.StringSliceFlag{Name: "passthrough-request-headers", Usage: "request header passed to the engine; repeat for several"},
		&ucli.StringSliceFlag{Name: "allowed-response-headers", Usage: "response header the engine may set; repeat for several"},
	)
}

// mountPath normalises a mount path to Vault's "name/" form.
func mountPath(p string) string {
	return strings.Trim(p, "/") + "/"
}

func runSecretsEnable(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	typ := s.arg(0)
	opts, err := parsePairs("options", s.c.StringSlice("options"))
	if err != nil {
		return usageError("parsing flags", err)
	}
	version := s.c.Int("version")
	if typ == "kv-v2" {
		typ, version = "kv", 2
	}
	if version > 0 {
		if opts == nil {
			opts = map[string]string{}
		}
		opts["version"] = strconv.Itoa(version)
	}
	path := s.c.String("path")
	if path == "" {
		path = typ
	}
	path = mountPath(path)
	in := &api.MountInput{
		Type:        typ,
		Description: s.c.String("description"),
		Config:      api.MountConfigInput{DefaultLeaseTTL: s.c.String("default-lease-ttl"), MaxLeaseTTL: s.c.String("max-lease-ttl")},
		Options:     opts,
	}
	if err := s.client.Sys().MountWithContext(s.ctx, path, in); err != nil {
		return serverError("enabling", err)
	}
	return s.success("Enabled the %s secrets engine at: %s", typ, path)
}

func runSecretsDisable(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := mountPath(s.arg(0))
	if err := s.client.Sys().UnmountWithContext(s.ctx, path); err != nil {
		return serverError("disabling secrets engine at "+path, err)
	}
	return s.success("Disabled the secrets engine (if it existed) at: %s", path)
}

func runSecretsTune(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := mountPath(s.arg(0))
	opts, err := parsePairs("options", s.c.StringSlice("options"))
	if err != nil {
		return usageError("parsing flags", err)
	}
	if v := s.c.Int("version"); v > 0 {
		if opts == nil {
			opts = map[string]string{}
		}
		opts["version"] = strconv.Itoa(v)
	}
	in := api.MountConfigInput{
		DefaultLeaseTTL:           s.c.String("default-lease-ttl"),
		MaxLeaseTTL:               s.c.String("max-lease-ttl"),
		Options:                   opts,
		ListingVisibility:         s.c.String("listing-visibility"),
		AuditNonHMACRequestKeys:   s.c.StringSlice("audit-non-hmac-request-keys"),
		AuditNonHMACResponseKeys:  s.c.StringSlice("audit-non-hmac-response-keys"),
		PassthroughRequestHeaders: s.c.StringSlice("passthrough-request-headers"),
		AllowedResponseHeaders:    s.c.StringSlice("allowed-response-headers"),
	}
	if s.c.IsSet("description") {
		d := s.c.String("description")
		in.Description = &d
	}
	if err := s.client.Sys().TuneMountWithContext(s.ctx, path, in); err != nil {
		return serverError("tuning secrets engine "+path, err)
	}
	return s.success("Tuned the secrets engine at: %s", path)
}

func runSecretsList(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	mounts, err := s.client.Sys().ListMountsWithContext(s.ctx)
	if err != nil {
		return serverError("listing secrets engines", err)
	}
	return s.printMounts(mounts, s.c.Bool("detailed"))
}

// printMounts prints a mount table for secrets list and auth list.
func (s *session) printMounts(mounts map[string]*api.MountOutput, detailed bool) error {
	if s.out.format != "table" {
		return s.out.structured(mounts)
	}
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	headings := []string{"Path", "Type", "Accessor", "Description"}
	if detailed {
		headings = []string{"Path", "Type", "Accessor", "Default TTL", "Max TTL", "Options", "Description", "UUID"}
	}
	rows := make([][]string, 0, len(paths))
	for _, p := range paths {
		m := mounts[p]
		if detailed {
			rows = append(rows, []string{p, m.Type, m.Accessor, seconds(m.Config.DefaultLeaseTTL),
				seconds(m.Config.MaxLeaseTTL), cell(optionsCell(m.Options)), cell(m.Description), m.UUID})
			continue
		}
		rows = append(rows, []string{p, m.Type, m.Accessor, cell(m.Description)})
	}
	return s.out.columns(headings, rows)
}

// optionsCell renders mount options like Go's map printing, or nil as <nil>.
func optionsCell(o map[string]string) any {
	if len(o) == 0 {
		return nil
	}
	return o
}
