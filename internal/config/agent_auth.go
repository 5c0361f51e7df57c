package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

func (d *decoder) autoAuth(a *Agent, pos token.Pos, body *ast.ObjectType) error {
	if a.AutoAuth != nil {
		return d.errorf(pos, ErrDuplicate, "only one auto_auth block is allowed")
	}
	aa := &AutoAuth{}
	for _, item := range body.List.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return err
		}
		kpos := item.Keys[0].Pos()
		switch key {
		case "method":
			if aa.Method.Type != "" {
				return d.errorf(kpos, ErrDuplicate, "auto_auth takes one method block (first on line %d)", aa.Method.Line)
			}
			if err := d.methodItem(aa, item); err != nil {
				return err
			}
		case "sink":
			err := d.block("sink", item, func(l string, p token.Pos, b *ast.ObjectType) error { return d.sink(aa, l, p, b) })
			if err != nil {
				return err
			}
		default:
			return d.errorf(kpos, ErrUnknownKey, "unknown key %q in auto_auth (expected method or sink)", key)
		}
	}
	if aa.Method.Type == "" {
		return d.errorf(pos, ErrMissing, `auto_auth needs a method block, such as method "kubernetes" { config { role = "app" } }`)
	}
	a.AutoAuth = aa
	return nil
}

// methodItem accepts `method "approle" { … }` and Vault's other spelling
// `method { type = "approle" … }`.
func (d *decoder) methodItem(aa *AutoAuth, item *ast.ObjectItem) error {
	if len(item.Keys) == 1 {
		if obj, ok := item.Val.(*ast.ObjectType); ok {
			for i, sub := range obj.List.Items {
				if k, _ := d.key(sub.Keys[0]); k == "type" && len(sub.Keys) == 1 {
					var typ string
					if err := d.stringInto(&typ, "type")(sub.Val); err != nil {
						return err
					}
					rest := append(append([]*ast.ObjectItem{}, obj.List.Items[:i]...), obj.List.Items[i+1:]...)
					return d.method(aa, typ, item.Keys[0].Pos(), &ast.ObjectType{List: &ast.ObjectList{Items: rest}})
				}
			}
		}
	}
	return d.block("method", item, func(l string, p token.Pos, b *ast.ObjectType) error { return d.method(aa, l, p, b) })
}

func (d *decoder) method(aa *AutoAuth, typ string, pos token.Pos, body *ast.ObjectType) error {
	m := AuthMethod{Type: typ, Line: pos.Line, MinBackoff: DefaultAuthMinBackoff, MaxBackoff: DefaultAuthMaxBackoff, RemoveAfterReading: true}
	cfgFields, required := d.methodConfigFields(&m)
	if cfgFields == nil {
		return d.errorf(pos, ErrUnknownKey, "unknown auto_auth method %q (supported: kubernetes, jwt, approle, token_file)", typ)
	}
	where := fmt.Sprintf("method %q", typ)
	var cfgBody *ast.ObjectType
	var rest []*ast.ObjectItem
	for _, item := range body.List.Items {
		if k, err := d.key(item.Keys[0]); err == nil && k == "config" {
			obj, ok := item.Val.(*ast.ObjectType)
			if !ok || len(item.Keys) != 1 {
				return d.errorf(item.Pos(), ErrInvalidValue, "config in %s takes a block: config { ... }", where)
			}
			if cfgBody != nil {
				return d.errorf(item.Pos(), ErrDuplicate, "only one config block in %s", where)
			}
			cfgBody = obj
			continue
		}
		rest = append(rest, item)
	}
	fields := map[string]func(ast.Node) error{
		"mount_path":  d.stringInto(&m.MountPath, "mount_path"),
		"exit_on_err": d.boolInto(&m.ExitOnErr, "exit_on_err"),
		"min_backoff": d.durationInto(&m.MinBackoff, "min_backoff"),
		"max_backoff": d.durationInto(&m.MaxBackoff, "max_backoff"),
		// Vault Enterprise's namespace has no meaning in Coffer; an empty
		// or root one is harmless.
		"namespace": func(v ast.Node) error {
			var ns string
			if err := d.stringInto(&ns, "namespace")(v); err != nil {
				return err
			}
			if strings.Trim(ns, "/") != "" {
				return d.errorf(v.Pos(), ErrInvalidValue, "namespace %q: Coffer has no namespaces; remove the key", ns)
			}
			return nil
		},
	}
	if _, err := d.body(&ast.ObjectType{List: &ast.ObjectList{Items: rest}}, where, fields); err != nil {
		return err
	}
	if cfgBody == nil {
		cfgBody = &ast.ObjectType{List: &ast.ObjectList{}}
	}
	seen, err := d.body(cfgBody, where+" config", cfgFields)
	if err != nil {
		return err
	}
	for _, k := range required {
		if _, ok := seen[k]; !ok {
			return d.errorf(pos, ErrMissing, "%s needs config { %s = ... }", where, k)
		}
	}
	if m.MinBackoff > m.MaxBackoff {
		return d.errorf(pos, ErrInvalidValue, "%s: min_backoff (%s) is longer than max_backoff (%s)", where, m.MinBackoff, m.MaxBackoff)
	}
	if m.MountPath == "" && typ != MethodTokenFile {
		m.MountPath = "auth/" + typ
	}
	m.MountPath = strings.Trim(m.MountPath, "/")
	if typ == MethodKubernetes && m.TokenPath == "" {
		m.TokenPath = DefaultKubernetesTokenPath
	}
	aa.Method = m
	return nil
}

// methodConfigFields returns the config keys a method type takes and the
// ones it requires; nil for an unknown type.
func (d *decoder) methodConfigFields(m *AuthMethod) (map[string]func(ast.Node) error, []string) {
	switch m.Type {
	case MethodKubernetes:
		return map[string]func(ast.Node) error{
			"role":       d.stringInto(&m.Role, "role"),
			"token_path": d.stringInto(&m.TokenPath, "token_path"),
		}, []string{"role"}
	case MethodJWT:
		return map[string]func(ast.Node) error{
			"role":                     d.stringInto(&m.Role, "role"),
			"path":                     d.stringInto(&m.TokenPath, "path"),
			"remove_jwt_after_reading": d.boolInto(&m.RemoveAfterReading, "remove_jwt_after_reading"),
		}, []string{"role", "path"}
	case MethodAppRole:
		return map[string]func(ast.Node) error{
			"role_id_file_path":                   d.stringInto(&m.RoleIDFile, "role_id_file_path"),
			"secret_id_file_path":                 d.stringInto(&m.SecretIDFile, "secret_id_file_path"),
			"remove_secret_id_file_after_reading": d.boolInto(&m.RemoveAfterReading, "remove_secret_id_file_after_reading"),
		}, []string{"role_id_file_path"}
	case MethodTokenFile:
		return map[string]func(ast.Node) error{
			"token_file_path": d.stringInto(&m.TokenPath, "token_file_path"),
		}, []string{"token_file_path"}
	}
	return nil, nil
}

func (d *decoder) sink(aa *AutoAuth, typ string, pos token.Pos, body *ast.ObjectType) error {
	if typ != "file" {
		return d.errorf(pos, ErrUnknownKey, "unknown sink type %q (supported: file)", typ)
	}
	s := Sink{Type: typ, Line: pos.Line}
	mode := uint32(DefaultSinkMode)
	var cfgBody *ast.ObjectType
	for _, item := range body.List.Items {
		k, err := d.key(item.Keys[0])
		if err != nil {
			return err
		}
		obj, ok := item.Val.(*ast.ObjectType)
		if k != "config" || !ok || len(item.Keys) != 1 || cfgBody != nil {
			return d.errorf(item.Pos(), ErrUnknownKey, `unknown key %q in sink "file" (expected one config { path = ..., mode = 0640 })`, k)
		}
		cfgBody = obj
	}
	if cfgBody == nil {
		return d.errorf(pos, ErrMissing, `sink "file" needs config { path = "/coffer/token" }`)
	}
	fields := map[string]func(ast.Node) error{
		"path": d.stringInto(&s.Path, "path"),
		"mode": d.fileMode(&mode, "mode"),
	}
	if _, err := d.body(cfgBody, `sink "file" config`, fields); err != nil {
		return err
	}
	if s.Path == "" {
		return d.errorf(pos, ErrMissing, `sink "file" needs config { path = "/coffer/token" }`)
	}
	s.Mode = os.FileMode(mode)
	aa.Sinks = append(aa.Sinks, s)
	return nil
}

func (d *decoder) template(a *Agent, pos token.Pos, body *ast.ObjectType) error {
	t := Template{Line: pos.Line, CreateDestDirs: true, CommandTimeout: DefaultCommandTimeout}
	perms := uint32(DefaultTemplatePerms)
	fields := map[string]func(ast.Node) error{
		"source":               d.stringInto(&t.Source, "source"),
		"contents":             d.stringInto(&t.Contents, "contents"),
		"destination":          d.stringInto(&t.Destination, "destination"),
		"perms":                d.fileMode(&perms, "perms"),
		"command":              d.commandInto(&t.Command, "command"),
		"command_timeout":      d.durationInto(&t.CommandTimeout, "command_timeout"),
		"error_on_missing_key": d.boolInto(&t.ErrorOnMissingKey, "error_on_missing_key"),
		"left_delimiter":       d.stringInto(&t.LeftDelimiter, "left_delimiter"),
		"right_delimiter":      d.stringInto(&t.RightDelimiter, "right_delimiter"),
		"create_dest_dirs":     d.boolInto(&t.CreateDestDirs, "create_dest_dirs"),
	}
	var rest []*ast.ObjectItem
	var execPos token.Pos
	for _, item := range body.List.Items {
		if k, err := d.key(item.Keys[0]); err == nil && k == "exec" {
			if err := d.templateExec(&t, item); err != nil {
				return err
			}
			execPos = item.Pos()
			continue
		}
		rest = append(rest, item)
	}
	seen, err := d.body(&ast.ObjectType{List: &ast.ObjectList{Items: rest}}, "template", fields)
	if err != nil {
		return err
	}
	if _, ok := seen["command"]; ok && execPos.Line != 0 {
		return d.errorf(execPos, ErrInvalidValue, "template takes command or exec { command = [...] }, not both")
	}
	t.Perms = os.FileMode(perms)
	_, hasSource := seen["source"]
	_, hasContents := seen["contents"]
	switch {
	case hasSource && hasContents:
		return d.errorf(seen["contents"], ErrInvalidValue, "template takes source or contents, not both")
	case !hasSource && !hasContents:
		return d.errorf(pos, ErrMissing, "template needs source (a template file) or contents (the template itself)")
	case hasSource && t.Source == "":
		return d.errorf(seen["source"], ErrInvalidValue, "template source must name a file")
	case t.Destination == "":
		return d.errorf(pos, ErrMissing, "template needs destination, the file to write")
	case (t.LeftDelimiter == "") != (t.RightDelimiter == ""):
		return d.errorf(pos, ErrInvalidValue, "template: left_delimiter and right_delimiter go together")
	}
	a.Templates = append(a.Templates, t)
	return nil
}

// templateExec reads a template's exec { command, timeout } block, Vault
// Agent's newer spelling of command and command_timeout.
func (d *decoder) templateExec(t *Template, item *ast.ObjectItem) error {
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok || len(item.Keys) != 1 {
		return d.errorf(item.Pos(), ErrInvalidValue, "exec in template takes a block: exec { command = [...] }")
	}
	fields := map[string]func(ast.Node) error{
		"command": d.commandInto(&t.Command, "command"),
		"timeout": d.durationInto(&t.CommandTimeout, "timeout"),
	}
	seen, err := d.body(obj, "template exec", fields)
	if err != nil {
		return err
	}
	if _, ok := seen["command"]; !ok {
		return d.errorf(item.Pos(), ErrMissing, "exec in template needs command")
	}
	return nil
}
