package cli

import (
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/policy"
)

// policyCommand manages ACL policies at sys/policies/acl.
func (e *env) policyCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "policy",
		Usage: "Write, read, list, delete and format ACL policies",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{Name: "write", Usage: "Upload a policy from a file, or from stdin with -", ArgsUsage: "NAME FILE|-"}, runPolicyWrite),
			e.clientCommand(&ucli.Command{Name: "read", Usage: "Print a policy's text", ArgsUsage: "NAME"}, runPolicyRead),
			e.clientCommand(&ucli.Command{Name: "list", Usage: "List policy names"}, runPolicyList),
			e.clientCommand(&ucli.Command{Name: "delete", Usage: "Delete a policy", ArgsUsage: "NAME"}, runPolicyDelete),
			{
				Name:      "fmt",
				Usage:     "Rewrite a policy file in canonical layout, in place",
				ArgsUsage: "FILE",
				Action:    runPolicyFmt,
			},
		},
	}
}

func runPolicyWrite(s *session) error {
	if err := s.wantArgs(2, 2); err != nil {
		return err
	}
	name, src := s.arg(0), s.arg(1)
	var (
		text []byte
		err  error
	)
	if src == "-" {
		text, err = s.readStdin()
	} else {
		text, err = os.ReadFile(src)
	}
	if err != nil {
		return usageError("reading the policy", err)
	}
	if err := s.client.Sys().PutPolicyWithContext(s.ctx, name, string(text)); err != nil {
		return serverError("uploading policy "+name, err)
	}
	return s.success("Uploaded policy: %s", name)
}

func runPolicyRead(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	name := s.arg(0)
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/policies/acl/"+name)
	if err != nil {
		return serverError("reading policy "+name, err)
	}
	if sec == nil {
		return &exitError{code: exitServer, msg: "No policy named: " + name}
	}
	if s.out.format != "table" || s.out.field != "" {
		return s.out.secret(sec)
	}
	text, _ := sec.Data["policy"].(string)
	return s.out.lines([]string{strings.TrimRight(text, "\n")})
}

func runPolicyList(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().ListWithContext(s.ctx, "sys/policies/acl")
	if err != nil {
		return serverError("listing policies", err)
	}
	names, err := listKeys(sec, "sys/policies/acl")
	if err != nil {
		return err
	}
	if s.out.format != "table" {
		return s.out.structured(names)
	}
	return s.out.lines(names)
}

func runPolicyDelete(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	name := s.arg(0)
	if _, err := s.client.Logical().DeleteWithContext(s.ctx, "sys/policies/acl/"+name); err != nil {
		return serverError("deleting policy "+name, err)
	}
	return s.success("Deleted policy: %s", name)
}

// runPolicyFmt needs no server: it formats with the same package the
// server parses policies with, so a formatted file always parses.
func runPolicyFmt(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usageErrorf("Incorrect number of arguments (expected 1, got %d)\n\nUsage: %s FILE", c.NArg(), c.Command.HelpName)
	}
	file := c.Args().First()
	info, err := os.Stat(file)
	if err != nil {
		return usageError("reading the policy", err)
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return usageError("reading the policy", err)
	}
	out, err := policy.Format(string(text))
	if err != nil {
		return usageError("formatting "+file, err)
	}
	if err := os.WriteFile(file, []byte(out), info.Mode().Perm()); err != nil {
		return usageError("writing "+file, err)
	}
	_, err = c.App.Writer.Write([]byte("Success! Formatted policy: " + file + "\n"))
	return err
}
