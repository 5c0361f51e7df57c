package cli

import (
	"fmt"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// leaseCommand looks up, renews and revokes leases at sys/leases, with
// Vault's flags, messages and exit codes.
func (e *env) leaseCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "lease",
		Usage: "Look up, renew and revoke the leases of dynamic secrets",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{Name: "lookup", Usage: "Print a lease's issue time, expiry, TTL and renewability", ArgsUsage: "ID"}, runLeaseLookup),
			e.clientCommand(&ucli.Command{
				Name: "renew", Usage: "Extend a lease (within its maximum TTL)", ArgsUsage: "ID",
				Flags: []ucli.Flag{&ucli.StringFlag{Name: "increment", Usage: "TTL asked for, e.g. 1h or 3600; the server may grant less"}},
			}, runLeaseRenew),
			e.clientCommand(&ucli.Command{
				Name: "revoke", Usage: "Revoke a lease, or with -prefix every lease under a path", ArgsUsage: "ID",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "prefix", Usage: "treat ID as a path prefix: revoke every lease under it"},
					&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "with -prefix: delete the leases even when their secrets cannot be revoked (recovery only)"},
					&ucli.BoolFlag{Name: "sync", Usage: "revoke before returning instead of queueing the revocation"},
				},
			}, runLeaseRevoke),
		},
	}
}

// leaseID returns the single lease ID argument, with Vault's message when
// it is missing.
func (s *session) leaseID() (string, error) {
	switch len(s.args) {
	case 0:
		return "", usageErrorf("Missing ID!")
	case 1:
		return strings.TrimSpace(s.args[0]), nil
	}
	return "", usageErrorf("Too many arguments (expected 1, got %d)", len(s.args))
}

func runLeaseLookup(s *session) error {
	id, err := s.leaseID()
	if err != nil {
		return err
	}
	sec, err := s.client.Sys().LookupWithContext(s.ctx, id)
	if err != nil {
		return serverError("looking up lease id "+id, err)
	}
	return s.out.secret(sec)
}

func runLeaseRenew(s *session) error {
	id, err := s.leaseID()
	if err != nil {
		return err
	}
	inc := 0
	if v := s.c.String("increment"); v != "" {
		if inc, err = parseDurationSeconds(v); err != nil {
			return usageError("parsing -increment", err)
		}
	}
	sec, err := s.client.Sys().RenewWithContext(s.ctx, id, inc)
	if err != nil {
		return serverError("renewing "+id, err)
	}
	return s.out.secret(sec)
}

// runLeaseRevoke revokes as Vault's CLI does: queued unless -sync, always
// synchronous with -force, which needs -prefix.
func runLeaseRevoke(s *session) error {
	if len(s.args) != 1 {
		word := "Not enough"
		if len(s.args) > 1 {
			word = "Too many"
		}
		return usageErrorf("%s arguments (expected 1, got %d)", word, len(s.args))
	}
	force, prefix, sync := s.c.Bool("force"), s.c.Bool("prefix"), s.c.Bool("sync")
	if force && !prefix {
		return usageErrorf("Specifying -force requires also specifying -prefix")
	}
	id := strings.TrimSpace(s.args[0])
	if force {
		fmt.Fprintln(s.stderr, "Warning! Force-removing leases can cause Coffer to become out of sync with secret engines!")
	}
	err := s.client.Sys().RevokeWithOptionsWithContext(s.ctx, &api.RevokeOptions{LeaseID: id, Force: force, Prefix: prefix, Sync: sync})
	switch {
	case err != nil && force:
		return serverError("force revoking leases with prefix "+id, err)
	case err != nil && prefix:
		return serverError("revoking leases with prefix "+id, err)
	case err != nil:
		return serverError("revoking lease "+id, err)
	case force:
		return s.success("Force revoked any leases with prefix: %s", id)
	case sync && prefix:
		return s.success("Revoked any leases with prefix: %s", id)
	case sync:
		return s.success("Revoked lease: %s", id)
	}
	if s.out.format == "table" {
		_, err = fmt.Fprintln(s.stdout, "All revocation operations queued successfully!")
	}
	return err
}
