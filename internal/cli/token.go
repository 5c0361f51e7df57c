package cli

import (
	"sort"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// tokenCommand manages tokens through the token auth method.
func (e *env) tokenCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "token",
		Usage: "Create, look up, renew and revoke tokens",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{Name: "create", Usage: "Create a child token (or an orphan with -orphan)", Flags: tokenCreateFlags()}, runTokenCreate),
			e.clientCommand(&ucli.Command{
				Name: "lookup", Usage: "Print a token's properties (the caller's own without TOKEN)", ArgsUsage: "[TOKEN | ACCESSOR | -]",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "accessor", Usage: "the argument is an accessor, not a token"}},
			}, runTokenLookup),
			e.clientCommand(&ucli.Command{
				Name: "renew", Usage: "Extend a token's TTL (the caller's own without TOKEN)", ArgsUsage: "[TOKEN | -]",
				Flags: []ucli.Flag{&ucli.StringFlag{Name: "increment", Aliases: []string{"i"}, Usage: "requested TTL extension, e.g. 1h"}},
			}, runTokenRenew),
			e.clientCommand(&ucli.Command{
				Name: "revoke", Usage: "Revoke a token and, unless -mode=orphan, its children", ArgsUsage: "[TOKEN | ACCESSOR | -]",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "accessor", Usage: "the argument is an accessor, not a token"},
					&ucli.BoolFlag{Name: "self", Usage: "revoke the token making the request"},
					&ucli.StringFlag{Name: "mode", Usage: "\"orphan\" keeps the token's children alive"},
				},
			}, runTokenRevoke),
			e.clientCommand(&ucli.Command{
				Name: "capabilities", Usage: "Print what a token (the caller's own without TOKEN) may do on PATH", ArgsUsage: "[TOKEN | -] PATH",
			}, runTokenCapabilities),
		},
	}
}

func tokenCreateFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringSliceFlag{Name: "policy", Usage: "policy to attach; repeat for several"},
		&ucli.StringFlag{Name: "ttl", Usage: "initial TTL, e.g. 30m"},
		&ucli.StringFlag{Name: "explicit-max-ttl", Usage: "hard limit on the token's life"},
		&ucli.StringFlag{Name: "period", Usage: "make the token periodic with this renewal period"},
		&ucli.BoolFlag{Name: "renewable", Value: true, Usage: "whether the token may be renewed"},
		&ucli.IntFlag{Name: "use-limit", Usage: "number of uses; 0 is unlimited"},
		&ucli.BoolFlag{Name: "orphan", Usage: "create a token without a parent"},
		&ucli.BoolFlag{Name: "no-default-policy", Usage: "do not attach the default policy"},
		&ucli.StringFlag{Name: "display-name", Usage: "name shown in lookups and audit logs"},
		&ucli.StringSliceFlag{Name: "metadata", Usage: "k=v metadata; repeat for several"},
		&ucli.StringFlag{Name: "type", Usage: "token type: service or batch (not stored, not renewable, no children); defaults to the role's, or service"},
		&ucli.StringFlag{Name: "role", Usage: "create the token against this token role (auth/token/create/ROLE)"},
	}
}

// tokenArg returns the i-th argument, a token or accessor, reading it from
// standard input when it is "-" so it need not appear in argv or shell
// history.
func (s *session) tokenArg(i int) (string, error) {
	arg := s.arg(i)
	if arg != "-" {
		return arg, nil
	}
	b, err := s.readStdin()
	if err != nil {
		return "", usageError("reading the token", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// runTokenCreate prints the new token: showing it is the command's purpose.
func runTokenCreate(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	meta, err := parsePairs("metadata", s.c.StringSlice("metadata"))
	if err != nil {
		return usageError("parsing flags", err)
	}
	renewable := s.c.Bool("renewable")
	req := &api.TokenCreateRequest{
		Policies:        s.c.StringSlice("policy"),
		Metadata:        meta,
		TTL:             s.c.String("ttl"),
		ExplicitMaxTTL:  s.c.String("explicit-max-ttl"),
		Period:          s.c.String("period"),
		NoParent:        s.c.Bool("orphan"),
		NoDefaultPolicy: s.c.Bool("no-default-policy"),
		DisplayName:     s.c.String("display-name"),
		NumUses:         s.c.Int("use-limit"),
		Renewable:       &renewable,
		Type:            s.c.String("type"),
	}
	var sec *api.Secret
	if role := s.c.String("role"); role != "" {
		sec, err = s.client.Auth().Token().CreateWithRoleWithContext(s.ctx, req, role)
	} else {
		sec, err = s.client.Auth().Token().CreateWithContext(s.ctx, req)
	}
	if err != nil {
		return serverError("creating token", err)
	}
	return s.out.secret(sec)
}

// runTokenLookup prints a token's properties. The token's own ID is left
// out of the output (ask for it explicitly with -field=id): a lookup is for
// inspecting a token, not for copying it to the screen.
func runTokenLookup(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	arg, err := s.tokenArg(0)
	if err != nil {
		return err
	}
	var sec *api.Secret
	switch {
	case s.c.Bool("accessor"):
		if arg == "" {
			return usageErrorf("-accessor needs the accessor as argument")
		}
		sec, err = s.client.Auth().Token().LookupAccessorWithContext(s.ctx, arg)
	case arg == "":
		sec, err = s.client.Auth().Token().LookupSelfWithContext(s.ctx)
	default:
		sec, err = s.client.Auth().Token().LookupWithContext(s.ctx, arg)
	}
	if err != nil {
		return serverError("looking up token", err)
	}
	if sec != nil && s.out.field != "id" {
		delete(sec.Data, "id")
	}
	return s.out.secret(sec)
}

// runTokenRenew prints the renewed lease, with the token itself blanked.
func runTokenRenew(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	inc := 0
	if v := s.c.String("increment"); v != "" {
		d, err := parseDurationSeconds(v)
		if err != nil {
			return usageError("parsing -increment", err)
		}
		inc = d
	}
	arg, err := s.tokenArg(0)
	if err != nil {
		return err
	}
	var sec *api.Secret
	if arg == "" {
		sec, err = s.client.Auth().Token().RenewSelfWithContext(s.ctx, inc)
	} else {
		sec, err = s.client.Auth().Token().RenewWithContext(s.ctx, arg, inc)
	}
	if err != nil {
		return serverError("renewing token", err)
	}
	if sec != nil && sec.Auth != nil {
		sec.Auth.ClientToken = ""
	}
	return s.out.secret(sec)
}

func runTokenRevoke(s *session) error {
	self, accessor, mode := s.c.Bool("self"), s.c.Bool("accessor"), s.c.String("mode")
	if mode != "" && mode != "orphan" {
		return usageErrorf("Invalid -mode %q: the only mode is orphan", mode)
	}
	tok := s.client.Auth().Token()
	arg, err := s.tokenArg(0)
	if err != nil {
		return err
	}
	switch {
	case self:
		if e := s.wantArgs(0, 0); e != nil {
			return e
		}
		err = tok.RevokeSelfWithContext(s.ctx, "")
	case s.wantArgs(1, 1) != nil:
		return s.wantArgs(1, 1)
	case accessor && mode == "orphan":
		return usageErrorf("-accessor and -mode=orphan cannot be combined")
	case accessor:
		err = tok.RevokeAccessorWithContext(s.ctx, arg)
	case mode == "orphan":
		err = tok.RevokeOrphanWithContext(s.ctx, arg)
	default:
		err = tok.RevokeTreeWithContext(s.ctx, arg)
	}
	if err != nil {
		return serverError("revoking token", err)
	}
	return s.success("Revoked token (if it existed)")
}

func runTokenCapabilities(s *session) error {
	if err := s.wantArgs(1, 2); err != nil {
		return err
	}
	var (
		caps []string
		err  error
		path = s.args[len(s.args)-1]
	)
	if len(s.args) == 2 {
		var tokenArg string
		if tokenArg, err = s.tokenArg(0); err != nil {
			return err
		}
		caps, err = s.client.Sys().CapabilitiesWithContext(s.ctx, tokenArg, path)
	} else {
		caps, err = s.client.Sys().CapabilitiesSelfWithContext(s.ctx, path)
	}
	if err != nil {
		return serverError("listing capabilities", err)
	}
	sort.Strings(caps)
	if s.out.format != "table" {
		return s.out.structured(caps)
	}
	return s.out.lines([]string{strings.Join(caps, ", ")})
}
