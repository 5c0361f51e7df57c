package injector

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
)

// Where the injected containers find things.
const (
	// SecretsDir is where every container of the pod sees the rendered files.
	SecretsDir = "/coffer/secrets"
	// TLSDir is where a pod's coffer.io/tls-secret is mounted in the
	// agent containers.
	TLSDir = "/coffer/tls"
	// TokenDir holds the projected service-account token ("token") the
	// agents log in with.
	TokenDir = "/coffer/token"
	// ConfigEnv is the environment variable that carries the agent's
	// configuration (base64 of JSON), read by `coffer agent -config-env`.
	ConfigEnv = "COFFER_AGENT_CONFIG"
)

// agentConfig is the agent configuration, in the JSON form of the HCL
// `coffer agent` reads, for the init container (once) or the sidecar.
func (inj *Injector) agentConfig(s *spec, once bool) ([]byte, error) {
	authPath := inj.cfg.AuthPath
	if s.AuthPath != "" {
		authPath = normaliseAuthPath(s.AuthPath)
	}
	server := map[string]any{"address": inj.cfg.Address}
	if s.Address != "" {
		server["address"] = s.Address
	}
	if ca := firstNonEmpty(s.CACert, inj.cfg.CACert); ca != "" {
		server["ca_cert"] = ca
	}
	if s.TLSServerName != "" {
		server["tls_server_name"] = s.TLSServerName
	}
	if s.TLSSkipVerify {
		server["tls_skip_verify"] = true
	}
	templates := make([]map[string]any, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		dest, contents := path.Join(SecretsDir, sec.File), templateOf(sec)
		if err := agent.CheckTemplate(config.Template{Destination: dest, Contents: contents}); err != nil {
			return nil, badf("%s%s%s: %v", PrefixCoffer, keyTemplate, sec.Name, errors.Unwrap(err))
		}
		t := map[string]any{
			"destination": dest,
			"contents":    contents,
			"perms":       fmt.Sprintf("%04o", uint32(sec.Perms)),
		}
		if sec.Command != "" {
			t["command"] = sec.Command
		}
		templates = append(templates, t)
	}
	// Every block is a list of objects: HCL's JSON reader would otherwise
	// flatten an object that holds only objects into a labelled block.
	cfg := map[string]any{
		"coffer": []any{server},
		"auto_auth": []any{map[string]any{"method": []any{map[string]any{
			"type":       "kubernetes",
			"mount_path": authPath,
			"config":     []any{map[string]any{"role": s.Role, "token_path": TokenDir + "/token"}},
		}}}},
		"template": templates,
	}
	if once {
		cfg["exit_after_auth"] = true
		cfg["template_config"] = []any{map[string]any{"exit_on_retry_failure": true}}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode agent configuration: %w", err)
	}
	if err := checkAgentConfig(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkAgentConfig parses the generated configuration exactly as the agent
// will, so a pod is denied at admission rather than left with an agent
// that cannot start (the templates were checked one by one before).
func checkAgentConfig(src []byte) error {
	if _, err := config.ParseAgent(src, ConfigEnv); err != nil {
		return badf("the agent would refuse its configuration: %v", err)
	}
	return nil
}

// templateOf is the secret's own template, or by default every field of
// the secret's data as "key: value" lines (what Vault's injector writes).
func templateOf(s secretSpec) string {
	if s.Template != "" {
		return s.Template
	}
	return "{{ with secret " + strconv.Quote(s.Path) + " }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
}

// encodeConfig is the value of ConfigEnv.
func encodeConfig(cfg []byte) string { return base64.StdEncoding.EncodeToString(cfg) }

// normaliseAuthPath accepts "kubernetes", "auth/kubernetes" or
// "/auth/kubernetes/" and returns "auth/kubernetes".
func normaliseAuthPath(p string) string {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if !strings.HasPrefix(p, "auth/") {
		p = "auth/" + p
	}
	return p
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
