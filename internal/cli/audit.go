package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/audit"
)

// exitTampered is verify's exit code for a log whose chain is broken.
const exitTampered = 3

// auditCommand manages audit devices at sys/audit and verifies the hash
// chain of a file device's log.
func (e *env) auditCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "Enable, list and disable audit devices; verify an audit log's hash chain",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name: "enable", Usage: "Enable an audit device: file, socket or syslog, with its options as KEY=VALUE", ArgsUsage: "TYPE [KEY=VALUE...]",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "path", Usage: "where the device is enabled (default: the type)"},
					&ucli.StringFlag{Name: "description", Usage: "human-readable description of the device"},
					&ucli.BoolFlag{Name: "local", Usage: "mark the device local to this node"},
				},
			}, runAuditEnable),
			e.clientCommand(&ucli.Command{Name: "disable", Usage: "Disable an audit device (its salt and chain key are deleted)", ArgsUsage: "PATH"}, runAuditDisable),
			e.clientCommand(&ucli.Command{
				Name: "list", Usage: "List the enabled audit devices",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "detailed", Usage: "show options too"}},
			}, runAuditList),
			e.clientCommand(&ucli.Command{
				Name: "verify", Usage: "Check a file device's log for removed, altered, inserted or reordered lines",
				UsageText: "coffer audit verify -file=PATH [-file=NEXT...] (-device=PATH | -key-file=FILE)",
				Flags: []ucli.Flag{
					&ucli.StringSliceFlag{Name: "file", Usage: "log file to check; repeat for rotated files, oldest first", Required: true},
					&ucli.StringFlag{Name: "device", Usage: "fetch the device's chain key from the server (sys/audit-chain-key, needs sudo)"},
					&ucli.StringFlag{Name: "key-file", Usage: "file holding the chain key in hex, exported with `coffer audit export-key` (offline)"},
				},
			}, runAuditVerify),
			e.clientCommand(&ucli.Command{
				Name: "export-key", Usage: "Print a file device's chain key (hex) for offline verification; it can forge the chain too", ArgsUsage: "PATH",
			}, runAuditExportKey),
		},
	}
}

func runAuditEnable(s *session) error {
	if err := s.wantArgs(1, -1); err != nil {
		return err
	}
	typ := s.arg(0)
	opts, err := parsePairs("options", s.args[1:])
	if err != nil {
		return usageError("parsing options", err)
	}
	path := s.c.String("path")
	if path == "" {
		path = typ
	}
	path = mountPath(path)
	in := &api.EnableAuditOptions{Type: typ, Description: s.c.String("description"), Options: opts, Local: s.c.Bool("local")}
	if err := s.client.Sys().EnableAuditWithOptionsWithContext(s.ctx, path, in); err != nil {
		return serverError("enabling audit device", err)
	}
	return s.success("Enabled the %s audit device at: %s", typ, path)
}

func runAuditDisable(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := mountPath(s.arg(0))
	if err := s.client.Sys().DisableAuditWithContext(s.ctx, path); err != nil {
		return serverError("disabling audit device", err)
	}
	return s.success("Disabled audit device (if it was enabled) at: %s", path)
}

func runAuditList(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	devs, err := s.client.Sys().ListAuditWithContext(s.ctx)
	if err != nil {
		return serverError("listing audit devices", err)
	}
	if s.out.format != "table" {
		return s.out.structured(devs)
	}
	if len(devs) == 0 {
		_, err := fmt.Fprintln(s.stdout, "No audit devices are enabled.")
		return err
	}
	paths := make([]string, 0, len(devs))
	for p := range devs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	headings := []string{"Path", "Type", "Description"}
	if s.c.Bool("detailed") {
		headings = append(headings, "Options")
	}
	rows := make([][]string, 0, len(paths))
	for _, p := range paths {
		d := devs[p]
		row := []string{p, d.Type, cell(d.Description)}
		if s.c.Bool("detailed") {
			row = append(row, cell(optionsCell(d.Options)))
		}
		rows = append(rows, row)
	}
	return s.out.columns(headings, rows)
}

// chainKey reads the key from the server or from a file.
func (s *session) chainKey() ([]byte, error) {
	dev, file := s.c.String("device"), s.c.String("key-file")
	switch {
	case dev != "" && file != "":
		return nil, usageErrorf("give -device or -key-file, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usageError("reading the key file", err)
		}
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) == 0 {
			return nil, usageErrorf("Error reading the key file: it must hold the chain key in hex")
		}
		return k, nil
	case dev != "":
		return s.fetchChainKey(dev)
	}
	return nil, usageErrorf("give -device=PATH (the key is fetched with your token) or -key-file=FILE")
}

func (s *session) fetchChainKey(dev string) ([]byte, error) {
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/audit-chain-key/"+strings.Trim(dev, "/"))
	if err != nil {
		return nil, serverError("reading the chain key", err)
	}
	if sec == nil {
		return nil, notFound("sys/audit-chain-key/" + dev)
	}
	hexKey, _ := sec.Data["key"].(string)
	k, err := hex.DecodeString(hexKey)
	if err != nil || len(k) == 0 {
		return nil, serverError("reading the chain key", errors.New("the server's answer holds no key"))
	}
	return k, nil
}

func runAuditExportKey(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.fetchChainKey(s.arg(0))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(s.stdout, hex.EncodeToString(k))
	return err
}

func runAuditVerify(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	key, err := s.chainKey()
	if err != nil {
		return err
	}
	var files []audit.ChainFile
	for _, name := range s.c.StringSlice("file") {
		f, err := os.Open(name)
		if err != nil {
			return usageError("opening the log", err)
		}
		defer f.Close()
		files = append(files, audit.ChainFile{Name: name, R: f})
	}
	res, err := audit.Verify(key, files)
	var te *audit.TamperError
	if errors.As(err, &te) {
		return &exitError{code: exitTampered, msg: "Audit log tampered: " + te.Error()}
	}
	if err != nil {
		return usageError("reading the log", err)
	}
	from := "from its start"
	if res.Continued {
		from = "continuing a chain begun in an earlier file"
	}
	_, err = fmt.Fprintf(s.stdout, "Audit log intact: %d lines, %d checkpoints, chain count %d, %s; %d lines after the last checkpoint\n",
		res.Lines, res.Checkpoints, res.Count, from, res.Unsealed)
	return err
}
