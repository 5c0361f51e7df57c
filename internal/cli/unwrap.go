package cli

import (
	"net/http"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// defaultWrapTTL is how long Vault's CLI wraps sys/wrapping/wrap when no
// -wrap-ttl says otherwise: that endpoint exists only to wrap.
const defaultWrapTTL = "5m"

// unwrapCommand is Vault's `unwrap`: it returns a wrapped response, once.
func (e *env) unwrapCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:      "unwrap",
		Usage:     "Unwrap a response-wrapping token, once",
		ArgsUsage: "[TOKEN | -]",
		Description: "With TOKEN (or - to read it from standard input, keeping it out of the process list),\n" +
			"unwraps that wrapping token with the current token's authority. Without it, the current\n" +
			"token (COFFER_TOKEN) is itself the wrapping token. A wrapping token unwraps exactly once:\n" +
			"a second try fails, which tells whoever expected the secret that someone else took it.",
	}, runUnwrap)
}

func runUnwrap(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	tok := s.arg(0)
	if tok == "-" {
		b, err := s.readStdin()
		if err != nil {
			return usageError("reading the wrapping token", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	sec, err := s.client.Logical().UnwrapWithContext(s.ctx, tok)
	if err != nil {
		return serverError("unwrapping", err)
	}
	if sec == nil {
		return s.success("Successfully unwrapped. There was no data in the wrapped secret.")
	}
	return s.out.secret(sec)
}

// wrapLookup returns the wrapping lookup function of a client: every
// request is wrapped for ttl when it is set, and otherwise only writes to
// sys/wrapping/wrap, for defaultWrapTTL, as Vault's CLI does.
func wrapLookup(ttl string) api.WrappingLookupFunc {
	return func(operation, path string) string {
		if ttl != "" {
			return ttl
		}
		if (operation == http.MethodPut || operation == http.MethodPost) && strings.Trim(path, "/") == "sys/wrapping/wrap" {
			return defaultWrapTTL
		}
		return ""
	}
}
