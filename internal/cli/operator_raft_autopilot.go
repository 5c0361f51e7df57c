package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// autopilotCommand is operator raft autopilot, as bao's: state,
// get-config and set-config against sys/storage/raft/autopilot/*.
func (e *env) autopilotCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "autopilot",
		Usage: "Show autopilot's view of the raft cluster and change its configuration",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{Name: "state", Usage: "Show the cluster's health as autopilot on the active node sees it (sudo)"}, runAutopilotState),
			e.clientCommand(&ucli.Command{Name: "get-config", Usage: "Show autopilot's configuration (sudo)"}, runAutopilotGetConfig),
			e.clientCommand(&ucli.Command{
				Name:  "set-config",
				Usage: "Change autopilot's configuration; settings not given keep their value (sudo)",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "cleanup-dead-servers", Usage: "remove voters that stopped reporting (needs -min-quorum of at least 3)"},
					&ucli.StringFlag{Name: "last-contact-threshold", Usage: `how long a member may go without reporting and stay healthy ("10s")`},
					&ucli.StringFlag{Name: "dead-server-last-contact-threshold", Usage: `how long before a silent member is removed by cleanup (at least "1m")`},
					&ucli.IntFlag{Name: "max-trailing-logs", Usage: "how many entries a healthy member may lag the leader by"},
					&ucli.IntFlag{Name: "min-quorum", Usage: "the fewest voters dead-server cleanup may leave"},
					&ucli.StringFlag{Name: "server-stabilization-time", Usage: `how long a new member stays healthy before promotion ("10s")`},
				},
			}, runAutopilotSetConfig),
		},
	}
}

func runAutopilotState(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/storage/raft/autopilot/state")
	if err != nil {
		return serverError("reading the autopilot state", err)
	}
	if sec == nil || sec.Data == nil {
		return serverError("reading the autopilot state", fmt.Errorf("autopilot has no state yet; retry in a few seconds"))
	}
	if s.out.format != "table" {
		return s.out.secret(sec)
	}
	return printAutopilotState(s.out.w, sec.Data)
}

// printAutopilotState writes bao's layout: the cluster's health, then
// each server's, leader and voters first.
func printAutopilotState(w io.Writer, d map[string]any) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Healthy:                         %v\n", d["healthy"])
	fmt.Fprintf(&b, "Failure Tolerance:               %v\n", d["failure_tolerance"])
	fmt.Fprintf(&b, "Leader:                          %v\n", d["leader"])
	b.WriteString("Voters:\n")
	order := stringsOf(d["voters"])
	for _, v := range order {
		fmt.Fprintf(&b, "   %s\n", v)
	}
	if nv := stringsOf(d["non_voters"]); len(nv) > 0 {
		b.WriteString("Non Voters:\n")
		for _, v := range nv {
			fmt.Fprintf(&b, "   %s\n", v)
		}
		order = append(order, nv...)
	}
	servers, _ := d["servers"].(map[string]any)
	var rest []string
	for id := range servers {
		if !contains(order, id) {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	b.WriteString("Servers:\n")
	for _, id := range append(order, rest...) {
		m, _ := servers[id].(map[string]any)
		if m == nil {
			continue
		}
		fmt.Fprintf(&b, "   %s\n", id)
		for _, f := range [][2]string{{"Name", "name"}, {"Address", "address"}, {"Status", "status"}, {"Node Status", "node_status"},
			{"Healthy", "healthy"}, {"Last Contact", "last_contact"}, {"Last Term", "last_term"}, {"Last Index", "last_index"}} {
			fmt.Fprintf(&b, "      %-18s %v\n", f[0]+":", m[f[1]])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stringsOf(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func runAutopilotGetConfig(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/storage/raft/autopilot/configuration")
	if err != nil {
		return serverError("reading the autopilot configuration", err)
	}
	if sec == nil {
		return serverError("reading the autopilot configuration", fmt.Errorf("no configuration returned"))
	}
	if s.out.format != "table" {
		return s.out.secret(sec)
	}
	d := sec.Data
	return s.out.table([]row{
		{"Cleanup Dead Servers", d["cleanup_dead_servers"]}, {"Last Contact Threshold", d["last_contact_threshold"]},
		{"Dead Server Last Contact Threshold", d["dead_server_last_contact_threshold"]},
		{"Server Stabilization Time", d["server_stabilization_time"]}, {"Min Quorum", d["min_quorum"]},
		{"Max Trailing Logs", d["max_trailing_logs"]}, {"Disable Upgrade Migration", d["disable_upgrade_migration"]},
	})
}

func runAutopilotSetConfig(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	body := map[string]any{}
	for _, name := range []string{"cleanup-dead-servers", "last-contact-threshold", "dead-server-last-contact-threshold",
		"max-trailing-logs", "min-quorum", "server-stabilization-time"} {
		if s.c.IsSet(name) {
			body[strings.ReplaceAll(name, "-", "_")] = s.c.Value(name)
		}
	}
	if len(body) == 0 {
		return usageErrorf("give at least one setting to change, such as -cleanup-dead-servers=true -min-quorum=3")
	}
	if _, err := s.client.Logical().WriteWithContext(s.ctx, "sys/storage/raft/autopilot/configuration", body); err != nil {
		return serverError("setting the autopilot configuration", err)
	}
	return s.success("Configuration updated")
}
