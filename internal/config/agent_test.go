package config

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

const fullAgent = `
pid_file = "/run/coffer-agent.pid"
exit_after_auth = false

vault {
  address = "https://coffer.internal:8200"
  ca_cert = "/etc/coffer/ca.pem"
  tls_skip_verify = false
  retry {
    num_retries = 5
  }
}

auto_auth {
  method "kubernetes" {
    mount_path = "auth/k8s"
    config {
      role = "app"
      token_path = "/tmp/sa-token"
    }
  }
  sink "file" {
    config {
      path = "/coffer/token"
      mode = 0600
    }
  }
  sink "file" {
    config {
      path = "/coffer/token2"
    }
  }
}

template_config {
  static_secret_render_interval = "30s"
  exit_on_retry_failure = true
  lease_renewal_threshold = 0.5
}

template {
  contents = "{{ with secret \"database/creds/app\" }}{{ .Data.connection_url }}{{ end }}"
  destination = "/coffer/secrets/db-url"
  perms = "0640"
  command = "pkill -HUP app"
  error_on_missing_key = true
}

template {
  source = "/etc/coffer/kv.tmpl"
  destination = "/coffer/secrets/kv"
  exec {
    command = ["/bin/true", "x"]
    timeout = "5s"
  }
  left_delimiter = "[["
  right_delimiter = "]]"
}

exec {
  command = ["/app/server", "-port=8080"]
  restart_on_secret_changes = "always"
  restart_stop_signal = "SIGINT"
}

cache {
  use_auto_auth_token = "force"
}

listener "unix" {
  address = "/run/coffer/agent.sock"
  tls_disable = true
}

listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}
`

func TestAgentFull(t *testing.T) {
	t.Parallel()
	a, err := ParseAgent([]byte(fullAgent), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	m := a.AutoAuth.Method
	switch {
	case a.Server.Address != "https://coffer.internal:8200" || a.Server.Retries != 5 || a.Server.CACert != "/etc/coffer/ca.pem":
		t.Fatalf("server %+v", a.Server)
	case m.Type != "kubernetes" || m.MountPath != "auth/k8s" || m.Role != "app" || m.TokenPath != "/tmp/sa-token":
		t.Fatalf("method %+v", m)
	case len(a.AutoAuth.Sinks) != 2 || a.AutoAuth.Sinks[0].Mode != 0o600 || a.AutoAuth.Sinks[1].Mode != 0o640:
		t.Fatalf("sinks %+v", a.AutoAuth.Sinks)
	case a.TemplateConfig.StaticSecretRenderInterval != 30*time.Second || !a.TemplateConfig.ExitOnRetryFailure || a.TemplateConfig.LeaseRenewalThreshold != 0.5:
		t.Fatalf("template_config %+v", a.TemplateConfig)
	case len(a.Templates) != 2:
		t.Fatalf("templates %+v", a.Templates)
	}
	t0, t1 := a.Templates[0], a.Templates[1]
	switch {
	case t0.Perms != 0o640 || strings.Join(t0.Command, "|") != "/bin/sh|-c|pkill -HUP app" || !t0.ErrorOnMissingKey || !t0.CreateDestDirs:
		t.Fatalf("template 0 %+v", t0)
	case t1.Perms != DefaultTemplatePerms || t1.Source != "/etc/coffer/kv.tmpl" || strings.Join(t1.Command, "|") != "/bin/true|x" || t1.CommandTimeout != 5*time.Second || t1.LeftDelimiter != "[[":
		t.Fatalf("template 1 %+v", t1)
	case a.Exec == nil || a.Exec.RestartStopSignal != syscall.SIGINT || len(a.Exec.Command) != 2:
		t.Fatalf("exec %+v", a.Exec)
	case a.Cache == nil || a.UseAutoAuthToken != "force" || len(a.Listeners) != 2 || a.Listeners[0].SocketMode != 0o600:
		t.Fatalf("cache %+v %q listeners %+v", a.Cache, a.UseAutoAuthToken, a.Listeners)
	}
}

func TestAgentDefaults(t *testing.T) {
	t.Parallel()
	a, err := ParseAgent([]byte(`
auto_auth {
  method { 
    type = "approle"
    config { role_id_file_path = "/r" }
  }
}
template {
  contents = "x"
  destination = "/tmp/x"
}`), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	m := a.AutoAuth.Method
	switch {
	case a.Server.Address != DefaultAgentAddress || a.Server.Retries != DefaultAgentRetries:
		t.Fatalf("server %+v", a.Server)
	case m.Type != "approle" || m.MountPath != "auth/approle" || !m.RemoveAfterReading || m.MinBackoff != time.Second || m.MaxBackoff != 5*time.Minute:
		t.Fatalf("method %+v", m)
	case a.TemplateConfig.StaticSecretRenderInterval != 5*time.Minute || a.TemplateConfig.LeaseRenewalThreshold != 0.9:
		t.Fatalf("template_config %+v", a.TemplateConfig)
	case a.Templates[0].Perms != 0o600 || a.UseAutoAuthToken != "true":
		t.Fatalf("template %+v use %q", a.Templates[0], a.UseAutoAuthToken)
	}
	v, err := ParseAgent([]byte("template_config { lease_renewal_threshold = 0.7 }\nvault { lease_renewal_threshold = 0.5 }\n"+`auto_auth { method "kubernetes" { config { role = "r" } } }`), "a.hcl")
	if err != nil || v.TemplateConfig.LeaseRenewalThreshold != 0.7 {
		t.Fatalf("template_config's threshold must win: %+v %v", v, err)
	}
	v, err = ParseAgent([]byte("vault { lease_renewal_threshold = 0.5 }\n"+`auto_auth { method "kubernetes" { config { role = "r" } } }`), "a.hcl")
	if err != nil || v.TemplateConfig.LeaseRenewalThreshold != 0.5 {
		t.Fatalf("vault's threshold: %+v %v", v, err)
	}
	k, err := ParseAgent([]byte(`auto_auth { method "kubernetes" { config { role = "r" } } }`), "a.hcl")
	if err != nil || k.AutoAuth.Method.TokenPath != DefaultKubernetesTokenPath {
		t.Fatalf("%+v %v", k, err)
	}
}

// TestAgentBadConfig: every mistake names the key (or block) at fault and
// its line, with the kind of error.
func TestAgentBadConfig(t *testing.T) {
	t.Parallel()
	const method = `auto_auth { method "token_file" { config { token_file_path = "/t" } } }` + "\n"
	cases := map[string]struct {
		src  string
		kind error
		want string
	}{
		"unknown top key":     {method + "exit_afer_auth = true", ErrUnknownKey, `agent.hcl:2: unknown key "exit_afer_auth"`},
		"unknown method":      {`auto_auth { method "ldap" {} }`, ErrUnknownKey, `unknown auto_auth method "ldap"`},
		"method config key":   {`auto_auth { method "kubernetes" { config { role = "a" tokn_path = "x" } } }`, ErrUnknownKey, `unknown key "tokn_path" in method "kubernetes" config`},
		"missing role":        {`auto_auth { method "jwt" { config { path = "/j" } } }`, ErrMissing, `method "jwt" needs config { role = ... }`},
		"no method":           {`auto_auth { sink "file" { config { path = "/t" } } }`, ErrMissing, "auto_auth needs a method block"},
		"sink without path":   {`auto_auth { method "token_file" { config { token_file_path = "/t" } } sink "file" { config { mode = 0600 } } }`, ErrMissing, `sink "file" needs config { path`},
		"sink mode":           {`auto_auth { method "token_file" { config { token_file_path = "/t" } } sink "file" { config { path = "/t" mode = "rw" } } }`, ErrInvalidValue, `"mode" must be permission bits`},
		"template no dest":    {method + `template { contents = "x" }`, ErrMissing, "agent.hcl:2: template needs destination"},
		"template both":       {method + "template {\n source = \"a\"\n contents = \"b\"\n destination = \"/d\"\n}", ErrInvalidValue, "agent.hcl:4: template takes source or contents, not both"},
		"template neither":    {method + `template { destination = "/d" }`, ErrMissing, "template needs source"},
		"template perms":      {method + `template { contents = "x" destination = "/d" perms = "999" }`, ErrInvalidValue, `"perms" must be permission bits`},
		"template dup dest":   {method + "template {\n contents = \"x\"\n destination = \"/d\"\n}\ntemplate {\n contents = \"y\"\n destination = \"/d\"\n}", ErrDuplicate, `template destination "/d" is also the destination of the template on line 2`},
		"delimiters":          {method + `template { contents = "x" destination = "/d" left_delimiter = "[[" }`, ErrInvalidValue, "left_delimiter and right_delimiter go together"},
		"template no auth":    {`template { contents = "x" destination = "/d" }`, ErrMissing, "template needs an auto_auth block"},
		"threshold":           {method + `template_config { lease_renewal_threshold = 1.5 }`, ErrInvalidValue, `"lease_renewal_threshold" must be greater than 0 and at most 1`},
		"interval":            {method + `template_config { static_secret_render_interval = "soon" }`, ErrInvalidValue, `"static_secret_render_interval" must be a duration`},
		"exec no command":     {method + `template { contents = "x" destination = "/d" }` + "\nexec { restart_on_secret_changes = \"never\" }", ErrMissing, "agent.hcl:3: exec needs command"},
		"exec restart":        {method + `template { contents = "x" destination = "/d" }` + "\nexec {\n command = [\"a\"]\n restart_on_secret_changes = \"sometimes\"\n}", ErrInvalidValue, `agent.hcl:5: restart_on_secret_changes must be "always" or "never"`},
		"exec signal":         {method + `template { contents = "x" destination = "/d" }` + "\nexec {\n command = [\"a\"]\n restart_stop_signal = \"SIGBOGUS\"\n}", ErrInvalidValue, `restart_stop_signal "SIGBOGUS" is not one of`},
		"exec exit":           {method + "exit_after_auth = true\n" + `template { contents = "x" destination = "/d" }` + "\nexec { command = [\"a\"] }", ErrInvalidValue, "exec cannot be combined with exit_after_auth"},
		"listener type":       {method + `listener "udp" { address = "x" }`, ErrUnknownKey, `unknown listener type "udp" (supported: unix, tcp)`},
		"listener tls":        {method + `listener "tcp" { address = "127.0.0.1:8100" }`, ErrTLSRequired, "tls_disable = true"},
		"plain token on all":  {method + `listener "tcp" { address = "0.0.0.0:8100" tls_disable = true }`, ErrTLSRequired, "agent.hcl:2: listener \"tcp\" on 0.0.0.0:8100"},
		"plain token on lan":  {method + `listener "tcp" { address = "10.1.2.3:8100" tls_disable = true }`, ErrTLSRequired, "auto-auth token"},
		"plain token, empty":  {method + `listener "tcp" { address = ":8100" tls_disable = true }`, ErrTLSRequired, "loopback"},
		"listener no address": {method + `listener "unix" { }`, ErrMissing, `listener "unix" needs address`},
		"cache no listener":   {method + `cache {}`, ErrMissing, "cache needs a listener"},
		"use token":           {method + `cache { use_auto_auth_token = "maybe" }` + "\n" + `listener "unix" { address = "/s" }`, ErrInvalidValue, `use_auto_auth_token must be true, false or "force"`},
		"server address":      {method + `coffer { address = "coffer:8200" }`, ErrInvalidValue, `coffer.address "coffer:8200" must be a URL`},
		"vault retry":         {method + `vault { retry { num_retries = "many" } }`, ErrInvalidValue, `"num_retries" must be an integer`},
		"vault unknown":       {method + `vault { adress = "http://x" }`, ErrUnknownKey, `unknown key "adress" in vault`},
		"two servers":         {method + "coffer {}\nvault {}", ErrDuplicate, "only one coffer (or vault) block"},
		"nothing":             {`pid_file = "/p"`, ErrMissing, "nothing to do"},
		"namespace":           {`auto_auth { method "token_file" { namespace = "team" config { token_file_path = "/t" } } }`, ErrInvalidValue, "Coffer has no namespaces"},
		"syntax":              {`auto_auth {`, ErrSyntax, "syntax error"},
		"template exec twice": {method + `template {` + "\n" + ` contents = "x" destination = "/d" command = "a"` + "\n" + ` exec { command = ["b"] }` + "\n}", ErrInvalidValue, "agent.hcl:4: template takes command or exec"},
		"template exec empty": {method + `template { contents = "x" destination = "/d" exec { timeout = "5s" } }`, ErrMissing, "exec in template needs command"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseAgent([]byte(tc.src), "agent.hcl")
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (kind %v), want %q of kind %v", err, errors.Unwrap(err), tc.want, tc.kind)
			}
		})
	}
}

func FuzzParseAgent(f *testing.F) {
	f.Add([]byte(fullAgent))
	f.Add([]byte(`{"auto_auth":{"method":{"approle":{"config":{"role_id_file_path":"/r"}}}}}`))
	f.Add([]byte(`template { perms = 0777777777777777777777 }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		a, err := ParseAgent(src, "fuzz.hcl")
		if err == nil && a == nil {
			t.Fatal("nil config without error")
		}
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// TestAgentPlainListeners: plain HTTP is fine on loopback, or anywhere when
// the proxy does not attach the auto-auth token.
func TestAgentPlainListeners(t *testing.T) {
	t.Parallel()
	const method = `auto_auth { method "token_file" { config { token_file_path = "/t" } } }` + "\n"
	for name, src := range map[string]string{
		"ipv4 loopback": method + `listener "tcp" { address = "127.0.0.1:8100" tls_disable = true }`,
		"ipv6 loopback": method + `listener "tcp" { address = "[::1]:8100" tls_disable = true }`,
		"localhost":     method + `listener "tcp" { address = "localhost:8100" tls_disable = true }`,
		"no auto token": method + "api_proxy { use_auto_auth_token = false }\n" + `listener "tcp" { address = "0.0.0.0:8100" tls_disable = true }`,
		"no auto_auth":  `listener "tcp" { address = "0.0.0.0:8100" tls_disable = true }`,
	} {
		if _, err := ParseAgent([]byte(src), "agent.hcl"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
