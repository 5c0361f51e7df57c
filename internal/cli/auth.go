package cli

import (
	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// authCommand manages auth method mounts at sys/auth.
func (e *env) authCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "auth",
		Usage: "Enable, list, move and disable auth methods",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name: "enable", Usage: "Mount an auth method under auth/", ArgsUsage: "TYPE",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "path", Usage: "mount path under auth/ (default: the type)"},
					&ucli.StringFlag{Name: "description", Usage: "human-readable description"},
					&ucli.StringFlag{Name: "default-lease-ttl", Usage: "default TTL of tokens it issues"},
					&ucli.StringFlag{Name: "max-lease-ttl", Usage: "maximum TTL of tokens it issues"},
				},
			}, runAuthEnable),
			e.clientCommand(&ucli.Command{Name: "disable", Usage: "Unmount an auth method, revoking its tokens", ArgsUsage: "PATH"}, runAuthDisable),
			e.clientCommand(&ucli.Command{
				Name: "list", Usage: "List enabled auth methods",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "detailed", Usage: "show TTLs, options and UUIDs too"}},
			}, runAuthList),
			e.moveCommand("auth method", true),
		},
	}
}

func runAuthEnable(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	typ := s.arg(0)
	path := s.c.String("path")
	if path == "" {
		path = typ
	}
	path = mountPath(path)
	in := &api.EnableAuthOptions{
		Type:        typ,
		Description: s.c.String("description"),
		Config:      api.AuthConfigInput{DefaultLeaseTTL: s.c.String("default-lease-ttl"), MaxLeaseTTL: s.c.String("max-lease-ttl")},
	}
	if err := s.client.Sys().EnableAuthWithOptionsWithContext(s.ctx, path, in); err != nil {
		return serverError("enabling "+typ+" auth", err)
	}
	return s.success("Enabled %s auth method at: %s", typ, path)
}

func runAuthDisable(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := mountPath(s.arg(0))
	if err := s.client.Sys().DisableAuthWithContext(s.ctx, path); err != nil {
		return serverError("disabling auth method at "+path, err)
	}
	return s.success("Disabled the auth method (if it existed) at: %s", path)
}

func runAuthList(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	mounts, err := s.client.Sys().ListAuthWithContext(s.ctx)
	if err != nil {
		return serverError("listing enabled auth methods", err)
	}
	return s.printMounts(mounts, s.c.Bool("detailed"))
}
