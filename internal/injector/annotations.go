package injector

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The two annotation prefixes. Every key is read under either; Vault's
// spelling keeps existing manifests working.
const (
	PrefixCoffer = "coffer.io/"
	PrefixVault  = "vault.hashicorp.com/"
)

// StatusAnnotation marks a pod the injector has mutated; a pod carrying it
// (or Vault's vault.hashicorp.com/agent-inject-status) with the value
// StatusInjected is left alone, so injection happens once.
const (
	StatusAnnotation = PrefixCoffer + "agent-inject-status"
	StatusInjected   = "injected"
)

// Annotation keys, without their prefix.
const (
	keyInject          = "agent-inject"
	keyStatus          = "agent-inject-status"
	keyRole            = "role"
	keyPrePopulateOnly = "agent-pre-populate-only"
	keyPrePopulate     = "agent-pre-populate"
	keyInitFirst       = "agent-init-first"
	keyAuthPath        = "auth-path"
	keyService         = "service"
	keyCACert          = "ca-cert"
	keyTLSSkipVerify   = "tls-skip-verify"
	keyTLSServerName   = "tls-server-name"
	keyTLSSecret       = "tls-secret"
	keyRunAsUser       = "agent-run-as-user"
	keyRunAsGroup      = "agent-run-as-group"
	keyNativeSidecar   = "agent-native-sidecar"

	keySecret   = "agent-inject-secret-"
	keyTemplate = "agent-inject-template-"
	keyFile     = "agent-inject-file-"
	keyCommand  = "agent-inject-command-"
	keyPerms    = "agent-inject-perms-"
)

// plainKeys are the keys without a secret name; perSecretKeys take one.
var (
	plainKeys = []string{keyInject, keyStatus, keyRole, keyPrePopulateOnly, keyPrePopulate,
		keyInitFirst, keyAuthPath, keyService, keyCACert, keyTLSSkipVerify, keyTLSServerName,
		keyTLSSecret, keyRunAsUser, keyRunAsGroup, keyNativeSidecar}
	perSecretKeys = []string{keySecret, keyTemplate, keyFile, keyCommand, keyPerms}
)

// secretName is what may follow agent-inject-secret-: it becomes the
// default file name, so no separators and no leading dot.
var secretName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// dnsName is a Kubernetes object name (a DNS subdomain) of at most 253
// characters; isDNSName checks the length. A bounded repetition
// ({0,251}) would compile to 251 copies: 168 kB allocated in package init
// at every start of the binary, the server's included.
var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

func isDNSName(s string) bool { return len(s) <= 253 && dnsName.MatchString(s) }

// DefaultPerms are the permission bits of a rendered file unless
// agent-inject-perms-<name> says otherwise. The volume is an in-memory
// emptyDir private to the pod, and the application usually runs as
// another user than the agent, so the file is readable by the pod's
// containers, as with Vault's injector.
const DefaultPerms os.FileMode = 0o644

// secretSpec is one file to render.
type secretSpec struct {
	Name     string
	Path     string
	Template string // empty: the default template of Path
	File     string // relative to the secrets directory
	Command  string
	Perms    os.FileMode
}

// spec is what a pod's annotations ask for.
type spec struct {
	Role            string
	Secrets         []secretSpec // sorted by Name
	PrePopulate     bool         // an init container (default true)
	PrePopulateOnly bool         // no sidecar
	// NativeSidecar, when set, overrides the injector's default: one
	// agent in initContainers with restartPolicy Always.
	NativeSidecar *bool
	InitFirst     bool
	AuthPath      string // "" means the injector's default
	Address       string // "" means the injector's default
	CACert        string
	TLSServerName string
	TLSSkipVerify bool
	// TLSSecret is a Secret of the pod's namespace mounted at TLSDir in
	// the agent containers (for ca-cert); empty for none.
	TLSSecret  string
	RunAsUser  *int64
	RunAsGroup *int64
	// Warnings are returned to the client (kubectl prints them): Vault
	// annotations Coffer does not implement, which are ignored.
	Warnings []string
}

// annotations holds a pod's injector annotations keyed without their
// prefix, and under which full key each was written (for messages).
type annotations struct {
	vals  map[string]string
	names map[string]string
}

// collect gathers the annotations under both prefixes. The same key
// under both with different values is an error; an unknown coffer.io/
// key is an error (a typo would otherwise silently do nothing); an
// unknown vault.hashicorp.com/ key is a warning, so Vault manifests with
// settings Coffer lacks still deploy.
func collect(ann map[string]string) (annotations, []string, error) {
	a := annotations{vals: map[string]string{}, names: map[string]string{}}
	var warnings []string
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, full := range keys {
		var prefix string
		switch {
		case strings.HasPrefix(full, PrefixCoffer):
			prefix = PrefixCoffer
		case strings.HasPrefix(full, PrefixVault):
			prefix = PrefixVault
		default:
			continue
		}
		key := strings.TrimPrefix(full, prefix)
		if !knownKey(key) {
			if prefix == PrefixCoffer {
				return a, nil, badf("%s is not an annotation the injector knows (known: %s, and %s<name>)",
					full, strings.Join(plainKeys, ", "), strings.Join(perSecretKeys, "<name>, "))
			}
			warnings = append(warnings, fmt.Sprintf("%s is not supported by the Coffer injector and was ignored", full))
			continue
		}
		if prev, dup := a.vals[key]; dup && prev != ann[full] {
			return a, nil, badf("%s and %s are both set, to different values: keep one", a.names[key], full)
		}
		a.vals[key], a.names[key] = ann[full], full
	}
	return a, warnings, nil
}

func knownKey(key string) bool {
	for _, k := range plainKeys {
		if key == k {
			return true
		}
	}
	for _, p := range perSecretKeys {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return true
		}
	}
	return false
}

// wantsInjection reports whether the pod asks for agents and has not had
// them yet. A value of agent-inject that is not a boolean is an error.
func wantsInjection(ann map[string]string) (bool, error) {
	for _, p := range []string{PrefixCoffer, PrefixVault} {
		if ann[p+keyStatus] == StatusInjected {
			return false, nil
		}
	}
	inject := false
	for _, p := range []string{PrefixCoffer, PrefixVault} {
		v, ok := ann[p+keyInject]
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, badf("%s%s is %s: write \"true\" or \"false\"", p, keyInject, quoteShort(v))
		}
		inject = inject || b
	}
	return inject, nil
}

// parseSpec reads the annotations of a pod that wants injection.
func parseSpec(ann map[string]string) (*spec, error) {
	a, warnings, err := collect(ann)
	if err != nil {
		return nil, err
	}
	s := &spec{PrePopulate: true, Warnings: warnings}
	if err := a.plain(s); err != nil {
		return nil, err
	}
	if s.Secrets, err = a.secrets(); err != nil {
		return nil, err
	}
	return s, nil
}

// plain reads the keys that take no secret name.
func (a annotations) plain(s *spec) error {
	s.Role = strings.TrimSpace(a.vals[keyRole])
	if s.Role == "" {
		return badf("%srole is required: the kubernetes auth role the agent logs in as", PrefixCoffer)
	}
	if err := a.text(keyRole, s.Role); err != nil {
		return err
	}
	for key, dst := range map[string]*bool{keyPrePopulateOnly: &s.PrePopulateOnly,
		keyPrePopulate: &s.PrePopulate, keyInitFirst: &s.InitFirst, keyTLSSkipVerify: &s.TLSSkipVerify} {
		if err := a.boolean(key, dst); err != nil {
			return err
		}
	}
	if !s.PrePopulate && s.PrePopulateOnly {
		return badf("%s is false and %s is true: that would inject no agent at all", a.name(keyPrePopulate), a.name(keyPrePopulateOnly))
	}
	if _, ok := a.vals[keyNativeSidecar]; ok {
		native := false
		if err := a.boolean(keyNativeSidecar, &native); err != nil {
			return err
		}
		if native && s.PrePopulateOnly {
			return badf("%s and %s are both true: a pod with only an init container has no sidecar, native or not", a.name(keyNativeSidecar), a.name(keyPrePopulateOnly))
		}
		s.NativeSidecar = &native
	}
	s.AuthPath = strings.Trim(strings.TrimSpace(a.vals[keyAuthPath]), "/")
	s.Address = strings.TrimSpace(a.vals[keyService])
	if s.Address != "" && !strings.HasPrefix(s.Address, "https://") && !strings.HasPrefix(s.Address, "http://") {
		return badf("%s is %s: write a URL such as https://coffer.coffer.svc:8200", a.name(keyService), quoteShort(s.Address))
	}
	s.CACert = strings.TrimSpace(a.vals[keyCACert])
	s.TLSServerName = strings.TrimSpace(a.vals[keyTLSServerName])
	s.TLSSecret = strings.TrimSpace(a.vals[keyTLSSecret])
	if s.TLSSecret != "" && !isDNSName(s.TLSSecret) {
		return badf("%s is %s: give the name of a Secret in the pod's namespace", a.name(keyTLSSecret), quoteShort(s.TLSSecret))
	}
	if s.TLSSecret != "" && s.CACert == "" {
		s.CACert = TLSDir + "/ca.crt"
	}
	for _, k := range []string{keyAuthPath, keyService, keyCACert, keyTLSServerName} {
		if err := a.text(k, a.vals[k]); err != nil {
			return err
		}
	}
	var err error
	if s.RunAsUser, err = a.id(keyRunAsUser, false); err != nil {
		return err
	}
	s.RunAsGroup, err = a.id(keyRunAsGroup, true)
	return err
}

// secrets reads the per-secret keys; every template, file, command or
// perms annotation must name a secret that has an agent-inject-secret-.
func (a annotations) secrets() ([]secretSpec, error) {
	byName := map[string]*secretSpec{}
	for key, val := range a.vals {
		name, ok := strings.CutPrefix(key, keySecret)
		if !ok {
			continue
		}
		if !secretName.MatchString(name) {
			return nil, badf("%s: the name after %s may hold only letters, digits, '-', '_' and '.', and not start with '.'", a.name(key), keySecret)
		}
		p := strings.Trim(strings.TrimSpace(val), "/")
		if p == "" {
			return nil, badf("%s is empty: give the secret's path, such as database/creds/app", a.name(key))
		}
		if err := a.text(key, p); err != nil {
			return nil, err
		}
		byName[name] = &secretSpec{Name: name, Path: p, File: name, Perms: DefaultPerms}
	}
	for key, val := range a.vals {
		for _, kind := range []string{keyTemplate, keyFile, keyCommand, keyPerms} {
			name, ok := strings.CutPrefix(key, kind)
			if !ok {
				continue
			}
			s := byName[name]
			if s == nil {
				return nil, badf("%s names no secret: add %s%s%s with the secret's path", a.name(key), PrefixCoffer, keySecret, name)
			}
			if err := a.perSecret(s, kind, key, val); err != nil {
				return nil, err
			}
		}
	}
	if len(byName) == 0 {
		return nil, badf("no %s%s<name> annotation: name at least one secret to render", PrefixCoffer, keySecret)
	}
	out := make([]secretSpec, 0, len(byName))
	files := map[string]string{}
	for _, s := range byName {
		if other, dup := files[s.File]; dup {
			return nil, badf("secrets %q and %q are both written to %s: give one another %s<name>", other, s.Name, s.File, keyFile)
		}
		files[s.File] = s.Name
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (a annotations) perSecret(s *secretSpec, kind, key, val string) error {
	switch kind {
	case keyTemplate:
		if strings.TrimSpace(val) == "" {
			return badf("%s is empty: remove it for the default template, or write one", a.name(key))
		}
		s.Template = val
	case keyFile:
		f, err := relativeFile(val)
		if err != nil {
			return badf("%s: %v", a.name(key), err)
		}
		s.File = f
	case keyCommand:
		if strings.TrimSpace(val) == "" {
			return badf("%s is empty: remove it or give a command", a.name(key))
		}
		s.Command = val
	case keyPerms:
		n, err := strconv.ParseUint(strings.TrimSpace(val), 8, 32)
		if err != nil || n > 0o777 {
			return badf("%s is %s: write permission bits in octal, such as \"0400\"", a.name(key), quoteShort(val))
		}
		s.Perms = os.FileMode(n)
	}
	return nil
}

// relativeFile checks a file name under the secrets directory: relative,
// clean, never leaving the directory.
func relativeFile(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("empty file name")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 || strings.Contains(v, `\`) {
		return "", fmt.Errorf("file name %s holds a control character or a backslash", quoteShort(v))
	}
	if strings.HasPrefix(v, "/") {
		return "", fmt.Errorf("file name %s must be relative to the secrets directory (/coffer/secrets)", quoteShort(v))
	}
	c := path.Clean(v)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || c != v {
		return "", fmt.Errorf("file name %s must be a clean relative path without \"..\", such as db or app/db.env", quoteShort(v))
	}
	return c, nil
}

func (a annotations) boolean(key string, dst *bool) error {
	v, ok := a.vals[key]
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return badf("%s is %s: write \"true\" or \"false\"", a.name(key), quoteShort(v))
	}
	*dst = b
	return nil
}

// id reads a user or group ID; the agents never run as root, so 0 is
// refused for a user (a group of 0 is allowed, as the kubelet allows it).
func (a annotations) id(key string, zeroOK bool) (*int64, error) {
	v, ok := a.vals[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > 1<<31-1 || (n == 0 && !zeroOK) {
		if n == 0 && err == nil {
			return nil, badf("%s is 0: the agent never runs as root; give another user ID", a.name(key))
		}
		return nil, badf("%s is %s: write a numeric ID", a.name(key), quoteShort(v))
	}
	return &n, nil
}

// text refuses control characters in a value that goes into the agent's
// configuration as one line.
func (a annotations) text(key, v string) error {
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return badf("%s holds a control character", a.name(key))
	}
	return nil
}

// name is the full annotation key as the pod wrote it.
func (a annotations) name(key string) string {
	if n, ok := a.names[key]; ok {
		return n
	}
	return PrefixCoffer + key
}

// maxQuoted bounds how much of a value a message repeats: an annotation
// may hold 256 kB, which a denial (and the injector's log) would
// otherwise echo whole for each pod created.
const maxQuoted = 64

// quoteShort quotes v, cut to maxQuoted runes with "…" after the quote.
func quoteShort(v string) string {
	r := []rune(v)
	if len(r) <= maxQuoted {
		return strconv.Quote(v)
	}
	return strconv.Quote(string(r[:maxQuoted])) + "…"
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadAnnotation, fmt.Sprintf(format, args...))
}
