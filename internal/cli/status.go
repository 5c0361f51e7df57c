package cli

import (
	"fmt"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// statusCommand shows seal and HA state. Like Vault's, it exits 0 when
// unsealed, 2 when sealed and 1 when the server cannot be asked, so
// scripts can tell "sealed" from "down".
func (e *env) statusCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:  "status",
		Usage: "Print the server's seal status",
	}, runStatus)
}

// statusOutput is the JSON/YAML shape of status: the seal status with the
// leader's HA flag added, as Vault prints it.
type statusOutput struct {
	*api.SealStatusResponse
	HAEnabled bool `json:"ha_enabled"`
}

func runStatus(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	st, err := s.client.Sys().SealStatusWithContext(s.ctx)
	if err != nil {
		return &exitError{code: exitUsage, msg: "Error checking seal status: " + describe(err)}
	}
	out := statusOutput{SealStatusResponse: st}
	if !st.Sealed {
		leader, err := s.client.Sys().LeaderWithContext(s.ctx)
		if err != nil {
			return &exitError{code: exitUsage, msg: "Error checking leader status: " + describe(err)}
		}
		out.HAEnabled = leader.HAEnabled
	}
	if err := s.printStatus(out); err != nil {
		return err
	}
	if st.Sealed {
		return &exitError{code: exitServer}
	}
	return nil
}

func (s *session) printStatus(st statusOutput) error {
	if s.out.format != "table" || s.out.field != "" {
		m, err := generic(st)
		if err != nil {
			return err
		}
		return s.out.data(m.(map[string]any))
	}
	return s.out.table(sealRows(st.SealStatusResponse, &st.HAEnabled))
}

// sealRows is the seal status table shared by status and operator unseal;
// haEnabled is nil when the leader was not asked.
func sealRows(st *api.SealStatusResponse, haEnabled *bool) []row {
	rows := []row{
		{"Seal Type", st.Type},
		{"Initialized", st.Initialized},
		{"Sealed", st.Sealed},
		{"Total Shares", st.N},
		{"Threshold", st.T},
	}
	if st.Sealed {
		rows = append(rows, row{"Unseal Progress", fmt.Sprintf("%d/%d", st.Progress, st.T)},
			row{"Unseal Nonce", st.Nonce})
	}
	rows = append(rows, row{"Version", st.Version}, row{"Storage Type", st.StorageType})
	if st.ClusterName != "" {
		rows = append(rows, row{"Cluster Name", st.ClusterName}, row{"Cluster ID", st.ClusterID})
	}
	if haEnabled != nil {
		rows = append(rows, row{"HA Enabled", *haEnabled})
	}
	return rows
}
