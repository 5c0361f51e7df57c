package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"
)

// raftCommand groups the integrated-storage commands, as Vault's
// operator raft does.
func (e *env) raftCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "raft",
		Usage: "Manage integrated storage (storage \"raft\"): join, list-peers, remove-peer, snapshot, autopilot",
		Subcommands: []*ucli.Command{
			e.raftSnapshotCommand(),
			e.autopilotCommand(),
			e.clientCommand(&ucli.Command{
				Name:      "join",
				Usage:     "Make this new node (COFFER_ADDR) join the cluster of LEADER_API_ADDR; unseal it afterwards with the cluster's keys",
				ArgsUsage: "LEADER_API_ADDR",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "leader-ca-cert", Usage: "CA certificate (PEM, or @FILE) that signs the leader's API certificate"},
					&ucli.StringFlag{Name: "leader-client-cert", Usage: "client certificate (PEM, or @FILE) for the leader's API"},
					&ucli.StringFlag{Name: "leader-client-key", Usage: "client key (PEM, or @FILE) for the leader's API"},
					&ucli.StringFlag{Name: "leader-tls-servername", Usage: "name to check in the leader's API certificate"},
					&ucli.BoolFlag{Name: "retry", Usage: "keep asking the leader in the background until it answers"},
				},
			}, runRaftJoin),
			e.clientCommand(&ucli.Command{Name: "list-peers", Usage: "List the cluster's raft members"}, runRaftListPeers),
			e.clientCommand(&ucli.Command{
				Name: "remove-peer", Usage: "Remove a member from the raft cluster (sudo)", ArgsUsage: "SERVER_ID",
			}, runRaftRemovePeer),
		},
	}
}

// pemFlag reads a flag that holds PEM or @FILE, as Vault's join does.
func pemFlag(s *session, name string) (string, error) {
	v := s.c.String(name)
	if len(v) > 1 && v[0] == '@' {
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", usageError("reading -"+name, err)
		}
		return string(b), nil
	}
	return v, nil
}

func runRaftJoin(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	body := map[string]any{"leader_api_addr": s.arg(0), "retry": s.c.Bool("retry"), "leader_tls_servername": s.c.String("leader-tls-servername")}
	for flag, field := range map[string]string{"leader-ca-cert": "leader_ca_cert", "leader-client-cert": "leader_client_cert", "leader-client-key": "leader_client_key"} {
		v, err := pemFlag(s, flag)
		if err != nil {
			return err
		}
		body[field] = v
	}
	sec, err := s.client.Logical().WriteWithContext(s.ctx, "sys/storage/raft/join", body)
	if err != nil {
		return serverError("joining the raft cluster", err)
	}
	joined := sec != nil && sec.Data["joined"] == true
	if s.out.format != "table" {
		return s.out.structured(map[string]any{"joined": joined})
	}
	return s.out.table([]row{{"Joined", joined}})
}

func runRaftListPeers(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/storage/raft/configuration")
	if err != nil {
		return serverError("listing the raft peers", err)
	}
	if sec == nil {
		return serverError("listing the raft peers", fmt.Errorf("no configuration returned"))
	}
	if s.out.format != "table" {
		return s.out.secret(sec)
	}
	cfg, _ := sec.Data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	rows := make([][]string, 0, len(servers))
	for _, v := range servers {
		m, _ := v.(map[string]any)
		state := "follower"
		if m["leader"] == true {
			state = "leader"
		}
		rows = append(rows, []string{fmt.Sprint(m["node_id"]), fmt.Sprint(m["address"]), state, fmt.Sprint(m["voter"])})
	}
	return s.out.columns([]string{"Node", "Address", "State", "Voter"}, rows)
}

func runRaftRemovePeer(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	if _, err := s.client.Logical().WriteWithContext(s.ctx, "sys/storage/raft/remove-peer", map[string]any{"server_id": s.arg(0)}); err != nil {
		return serverError("removing the raft peer", err)
	}
	return s.success("Removed peer: %s", s.arg(0))
}
