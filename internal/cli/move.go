package cli

import (
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// movePollInterval is how long `secrets move` and `auth move` wait between
// status checks of a move that has not finished; Coffer's moves are
// usually done before the first check.
const movePollInterval = time.Second

// moveCommand is `secrets move` or `auth move`: what is moved is named in
// the output ("secrets engine", "auth method"); auth paths get "auth/".
func (e *env) moveCommand(what string, auth bool) *ucli.Command {
	usage := "Move a " + what + " to a new path, with its data and configuration"
	return e.clientCommand(&ucli.Command{Name: "move", Usage: usage, ArgsUsage: "SOURCE DESTINATION"},
		func(s *session) error { return runMove(s, what, auth) })
}

// runMove starts a move with sys/remount and polls sys/remount/status
// until it ends, printing what Vault's CLI prints.
func runMove(s *session, what string, auth bool) error {
	if err := s.wantArgs(2, 2); err != nil {
		return err
	}
	src, dst := mountPath(s.arg(0)), mountPath(s.arg(1))
	if auth {
		src, dst = authPath(src), authPath(dst)
	}
	sys := s.client.Sys()
	started, err := sys.StartRemountWithContext(s.ctx, src, dst)
	if err != nil {
		return serverError(fmt.Sprintf("moving %s %s to %s", what, src, dst), err)
	}
	id := started.MigrationID
	s.say("Started moving %s %s to %s, with migration ID %s", what, src, dst, id)
	for {
		st, err := sys.RemountStatusWithContext(s.ctx, id)
		if err != nil {
			return serverError(fmt.Sprintf("checking migration status of %s %s to %s", what, src, dst), err)
		}
		switch st.MigrationInfo.MigrationStatus {
		case "success":
			return s.success("Finished moving %s %s to %s, with migration ID %s", what, src, dst, id)
		case "failure":
			return &exitError{code: exitServer, msg: fmt.Sprintf("Failure! Error encountered moving %s %s to %s, with migration ID %s", what, src, dst, id)}
		}
		s.say("Waiting for terminal status in migration of %s %s to %s, with migration ID %s", what, src, dst, id)
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(movePollInterval):
		}
	}
}

// authPath puts an auth method's path under auth/, as Vault's CLI does.
func authPath(p string) string {
	if strings.HasPrefix(p, "auth/") {
		return p
	}
	return "auth/" + p
}

// say prints a progress line in the table format only.
func (s *session) say(format string, args ...any) {
	if s.out.format == "table" {
		fmt.Fprintf(s.stdout, format+"\n", args...)
	}
}
