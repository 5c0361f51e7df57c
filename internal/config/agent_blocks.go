package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// agentSignals are the names restart_stop_signal accepts.
var agentSignals = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP,
	"SIGQUIT": syscall.SIGQUIT, "SIGKILL": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1,
	"SIGUSR2": syscall.SIGUSR2,
}

// agentTop walks the top-level items of an agent configuration.
func (d *decoder) agentTop(a *Agent, list *ast.ObjectList) error {
	a.Server.Retries = DefaultAgentRetries
	fields := map[string]func(ast.Node) error{
		"exit_after_auth": d.boolInto(&a.ExitAfterAuth, "exit_after_auth"),
		"pid_file":        d.stringInto(&a.PIDFile, "pid_file"),
		"log_level": func(v ast.Node) error {
			s := &Server{}
			err := d.logLevel(s, v)
			a.LogLevel = s.LogLevel
			return err
		},
	}
	plain := map[string]func(pos token.Pos, body *ast.ObjectType) error{
		"coffer":          func(p token.Pos, b *ast.ObjectType) error { return d.agentServer(a, "coffer", p, b) },
		"vault":           func(p token.Pos, b *ast.ObjectType) error { return d.agentServer(a, "vault", p, b) },
		"auto_auth":       func(p token.Pos, b *ast.ObjectType) error { return d.autoAuth(a, p, b) },
		"template":        func(p token.Pos, b *ast.ObjectType) error { return d.template(a, p, b) },
		"template_config": func(p token.Pos, b *ast.ObjectType) error { return d.templateConfig(a, p, b) },
		"exec":            func(p token.Pos, b *ast.ObjectType) error { return d.exec(a, p, b) },
		"cache":           func(p token.Pos, b *ast.ObjectType) error { return d.cache(a, "cache", p, b) },
		"api_proxy":       func(p token.Pos, b *ast.ObjectType) error { return d.cache(a, "api_proxy", p, b) },
	}
	once := map[string]token.Pos{}
	for _, item := range list.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return err
		}
		kpos := item.Keys[0].Pos()
		if key == "listener" {
			if err := d.block(key, item, func(l string, p token.Pos, b *ast.ObjectType) error { return d.agentListener(a, l, p, b) }); err != nil {
				return err
			}
			continue
		}
		if handle, ok := plain[key]; ok {
			body, isObj := item.Val.(*ast.ObjectType)
			if len(item.Keys) != 1 || !isObj {
				return d.errorf(kpos, ErrInvalidValue, "%s takes a block without a label: %s { ... }", key, key)
			}
			if err := handle(kpos, body); err != nil {
				return err
			}
			continue
		}
		if err := d.setOnce(fields, once, key, item); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) agentServer(a *Agent, name string, pos token.Pos, body *ast.ObjectType) error {
	if a.Server.Line != 0 {
		return d.errorf(pos, ErrDuplicate, "only one coffer (or vault) block is allowed (first on line %d)", a.Server.Line)
	}
	s := &a.Server
	s.Line = pos.Line
	fields := map[string]func(ast.Node) error{
		"address":         d.stringInto(&s.Address, "address"),
		"ca_cert":         d.stringInto(&s.CACert, "ca_cert"),
		"client_cert":     d.stringInto(&s.ClientCert, "client_cert"),
		"client_key":      d.stringInto(&s.ClientKey, "client_key"),
		"tls_server_name": d.stringInto(&s.TLSServerName, "tls_server_name"),
		"tls_skip_verify": d.boolInto(&s.TLSSkipVerify, "tls_skip_verify"),
		// Some Vault Agent versions read it here; template_config's wins.
		"lease_renewal_threshold": func(v ast.Node) error {
			var f float64
			if err := d.fraction(&f, "lease_renewal_threshold")(v); err != nil {
				return err
			}
			if !a.thresholdInTemplateConfig {
				a.TemplateConfig.LeaseRenewalThreshold = f
			}
			return nil
		},
	}
	// retry is the one nested block; body() refuses blocks, so take it out.
	var rest []*ast.ObjectItem
	for _, item := range body.List.Items {
		if k, err := d.key(item.Keys[0]); err == nil && k == "retry" {
			if err := d.retry(s, item); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, item)
	}
	if _, err := d.body(&ast.ObjectType{List: &ast.ObjectList{Items: rest}}, name, fields); err != nil {
		return err
	}
	if s.Address != "" && !strings.HasPrefix(s.Address, "http://") && !strings.HasPrefix(s.Address, "https://") {
		return d.errorf(pos, ErrInvalidValue, "%s.address %q must be a URL such as https://coffer.example.com:8200", name, s.Address)
	}
	if (s.ClientCert == "") != (s.ClientKey == "") {
		return d.errorf(pos, ErrMissing, "%s: client_cert and client_key go together", name)
	}
	return nil
}

func (d *decoder) retry(s *AgentServer, item *ast.ObjectItem) error {
	body, ok := item.Val.(*ast.ObjectType)
	if !ok || len(item.Keys) != 1 {
		return d.errorf(item.Pos(), ErrInvalidValue, "retry takes a block: retry { num_retries = 12 }")
	}
	var n int64 = DefaultAgentRetries
	fields := map[string]func(ast.Node) error{"num_retries": d.intInto(&n, "num_retries")}
	if _, err := d.body(body, "retry", fields); err != nil {
		return err
	}
	if n < -1 || n > 1000 {
		return d.errorf(item.Pos(), ErrInvalidValue, "num_retries must be between -1 (no retries) and 1000, not %d", n)
	}
	s.Retries = int(n)
	return nil
}

func (d *decoder) templateConfig(a *Agent, pos token.Pos, body *ast.ObjectType) error {
	tc := &a.TemplateConfig
	var threshold float64
	fields := map[string]func(ast.Node) error{
		"static_secret_render_interval": d.durationInto(&tc.StaticSecretRenderInterval, "static_secret_render_interval"),
		"exit_on_retry_failure":         d.boolInto(&tc.ExitOnRetryFailure, "exit_on_retry_failure"),
		"lease_renewal_threshold":       d.fraction(&threshold, "lease_renewal_threshold"),
		// Accepted for Vault compatibility; Coffer's client has no such limit.
		"max_connections_per_host": d.intInto(new(int64), "max_connections_per_host"),
	}
	seen, err := d.body(body, "template_config", fields)
	if err != nil {
		return err
	}
	if _, ok := seen["lease_renewal_threshold"]; ok {
		tc.LeaseRenewalThreshold = threshold
		a.thresholdInTemplateConfig = true
	}
	return nil
}

// fraction reads a number in (0, 1].
func (d *decoder) fraction(dst *float64, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		val, _, err := d.literal(v, key, "a number between 0 and 1")
		if err != nil {
			return err
		}
		var f float64
		switch x := val.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		case string:
			if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return d.errorf(v.Pos(), ErrInvalidValue, "%q must be a number between 0 and 1, not %q", key, x)
			}
		}
		if !(f > 0 && f <= 1) {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be greater than 0 and at most 1 (a fraction of the lease), not %v", key, f)
		}
		*dst = f
		return nil
	}
}

// fileMode reads permission bits: 0600 (octal number) or "0600".
func (d *decoder) fileMode(dst *uint32, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		val, _, err := d.literal(v, key, `permission bits such as "0600"`)
		if err != nil {
			return err
		}
		var n int64
		switch x := val.(type) {
		case int64:
			// An HCL number written 0600 is already octal; 600 was meant
			// as octal too.
			n = x
			if !strings.HasPrefix(tokenText(v), "0") {
				n, err = strconv.ParseInt(strconv.FormatInt(x, 10), 8, 64)
			}
		case string:
			n, err = strconv.ParseInt(strings.TrimSpace(x), 8, 64)
		default:
			err = fmt.Errorf("not a number")
		}
		if err != nil || n < 0 || n > 0o777 {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be permission bits in octal such as \"0600\"", key)
		}
		*dst = uint32(n)
		return nil
	}
}

func tokenText(v ast.Node) string {
	if lit, ok := v.(*ast.LiteralType); ok {
		return lit.Token.Text
	}
	return ""
}

// commandInto reads a list of strings, or one string s as
// ["/bin/sh", "-c", s] (a command line for the shell).
func (d *decoder) commandInto(dst *[]string, key string) func(ast.Node) error {
	return func(v ast.Node) error {
		if list, ok := v.(*ast.ListType); ok {
			var out []string
			for _, el := range list.List {
				var s string
				if err := d.stringInto(&s, key)(el); err != nil {
					return d.errorf(el.Pos(), ErrInvalidValue, "%q must be a list of strings", key)
				}
				out = append(out, s)
			}
			if len(out) == 0 || out[0] == "" {
				return d.errorf(v.Pos(), ErrInvalidValue, "%q must name a program", key)
			}
			*dst = out
			return nil
		}
		var s string
		if err := d.stringInto(&s, key)(v); err != nil {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be a list of strings (the program and its arguments) or one shell command line", key)
		}
		if strings.TrimSpace(s) == "" {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must not be empty", key)
		}
		*dst = []string{"/bin/sh", "-c", s}
		return nil
	}
}

func (d *decoder) exec(a *Agent, pos token.Pos, body *ast.ObjectType) error {
	if a.Exec != nil {
		return d.errorf(pos, ErrDuplicate, "only one exec block is allowed (first on line %d)", a.Exec.Line)
	}
	e := &Exec{Line: pos.Line, RestartOnSecretChanges: RestartAlways, RestartStopSignal: syscall.SIGTERM}
	var sig string
	fields := map[string]func(ast.Node) error{
		"command":                   d.commandInto(&e.Command, "command"),
		"restart_on_secret_changes": d.stringInto(&e.RestartOnSecretChanges, "restart_on_secret_changes"),
		"restart_stop_signal":       d.stringInto(&sig, "restart_stop_signal"),
	}
	seen, err := d.body(body, "exec", fields)
	if err != nil {
		return err
	}
	if len(e.Command) == 0 {
		return d.errorf(pos, ErrMissing, `exec needs command, the program to run: command = ["/app/server", "-flag"]`)
	}
	if e.RestartOnSecretChanges != RestartAlways && e.RestartOnSecretChanges != RestartNever {
		return d.errorf(seen["restart_on_secret_changes"], ErrInvalidValue, "restart_on_secret_changes must be \"always\" or \"never\", not %q", e.RestartOnSecretChanges)
	}
	if sig != "" {
		name := strings.ToUpper(strings.TrimSpace(sig))
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		s, ok := agentSignals[name]
		if !ok {
			return d.errorf(seen["restart_stop_signal"], ErrInvalidValue, "restart_stop_signal %q is not one of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2", sig)
		}
		e.RestartStopSignal = s
	}
	a.Exec = e
	return nil
}

func (d *decoder) cache(a *Agent, name string, pos token.Pos, body *ast.ObjectType) error {
	var use string
	fields := map[string]func(ast.Node) error{
		"use_auto_auth_token": func(v ast.Node) error { return d.useAutoAuthToken(&use, v) },
		// Vault's caching knobs with no Coffer equivalent yet are refused
		// by body() as unknown keys, so nothing is silently ignored.
	}
	if _, err := d.body(body, name, fields); err != nil {
		return err
	}
	if use != "" {
		if a.UseAutoAuthToken != "" && a.UseAutoAuthToken != use {
			return d.errorf(pos, ErrInvalidValue, "use_auto_auth_token is set differently in cache and api_proxy")
		}
		a.UseAutoAuthToken = use
	}
	if name == "cache" {
		if a.Cache != nil {
			return d.errorf(pos, ErrDuplicate, "only one cache block is allowed (first on line %d)", a.Cache.Line)
		}
		a.Cache = &AgentCache{Line: pos.Line}
	}
	return nil
}

func (d *decoder) useAutoAuthToken(dst *string, v ast.Node) error {
	if lit, ok := v.(*ast.LiteralType); ok && lit.Token.Type == token.STRING {
		if s, _ := strconv.Unquote(lit.Token.Text); strings.EqualFold(s, "force") {
			*dst = "force"
			return nil
		}
	}
	var b bool
	if err := d.boolInto(&b, "use_auto_auth_token")(v); err != nil {
		return d.errorf(v.Pos(), ErrInvalidValue, `use_auto_auth_token must be true, false or "force"`)
	}
	*dst = strconv.FormatBool(b)
	return nil
}

func (d *decoder) agentListener(a *Agent, label string, pos token.Pos, body *ast.ObjectType) error {
	if label != "tcp" && label != "unix" {
		return d.errorf(pos, ErrUnknownKey, "unknown listener type %q (supported: unix, tcp)", label)
	}
	l := AgentListener{Type: label, Line: pos.Line, SocketMode: 0o600}
	var mode uint32 = 0o600
	fields := map[string]func(ast.Node) error{
		"address":       d.stringInto(&l.Address, "address"),
		"tls_disable":   d.boolInto(&l.TLSDisable, "tls_disable"),
		"tls_cert_file": d.stringInto(&l.TLSCertFile, "tls_cert_file"),
		"tls_key_file":  d.stringInto(&l.TLSKeyFile, "tls_key_file"),
	}
	if label == "unix" {
		fields["socket_mode"] = d.fileMode(&mode, "socket_mode")
	}
	where := fmt.Sprintf("listener %q", label)
	if _, err := d.body(body, where, fields); err != nil {
		return err
	}
	l.SocketMode = os.FileMode(mode)
	if l.Address == "" {
		return d.errorf(pos, ErrMissing, "%s needs address (%s)", where, map[string]string{"tcp": `"127.0.0.1:8100"`, "unix": `a socket path such as "/run/coffer/agent.sock"`}[label])
	}
	if label == "tcp" && !l.TLSDisable && (l.TLSCertFile == "" || l.TLSKeyFile == "") {
		return d.errorf(pos, ErrTLSRequired, `listener "tcp" needs tls_cert_file and tls_key_file; to serve plain HTTP on loopback write tls_disable = true`)
	}
	a.Listeners = append(a.Listeners, l)
	return nil
}
