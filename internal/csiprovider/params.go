package csiprovider

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The attributes the driver adds to the SecretProviderClass parameters.
const (
	attrPodName   = "csi.storage.k8s.io/pod.name"
	attrPodNS     = "csi.storage.k8s.io/pod.namespace"
	attrPodUID    = "csi.storage.k8s.io/pod.uid"
	attrSAName    = "csi.storage.k8s.io/serviceAccount.name"
	attrSATokens  = "csi.storage.k8s.io/serviceAccount.tokens"
	maxObjects    = 256
	maxAttrsBytes = 1 << 20
)

// mountParams is one Mount request's attributes, checked.
type mountParams struct {
	role       string
	address    string
	authMount  string // without "auth/" and slashes
	audience   string
	caCertPath string
	serverName string
	skipVerify bool
	objects    []object

	podName, podNS, podUID, saName string
	jwt                            string    // the pod's service-account token for the audience
	jwtExpires                     time.Time // when the driver says it expires (zero: not said)
}

// object is one entry of the objects parameter.
type object struct {
	Name       string         `yaml:"objectName"`
	Path       string         `yaml:"secretPath"`
	Key        string         `yaml:"secretKey"`
	Method     string         `yaml:"method"`
	Args       map[string]any `yaml:"secretArgs"`
	Type       string         `yaml:"objectType"`
	Version    string         `yaml:"objectVersion"`
	Alias      string         `yaml:"objectAlias"`
	Permission octalMode      `yaml:"filePermission"`
	Encoding   string         `yaml:"encoding"`
	// Azure's spelling of encoding, accepted so its SecretProviderClasses carry over.
	ObjectEncoding string `yaml:"objectEncoding"`
	// Azure's objectFormat: only pem, the format Coffer writes.
	Format string `yaml:"objectFormat"`
}

var objectKeys = map[string]bool{
	"objectName": true, "secretPath": true, "secretKey": true, "method": true, "secretArgs": true,
	"objectType": true, "objectVersion": true, "objectAlias": true, "filePermission": true,
	"encoding": true, "objectEncoding": true, "objectFormat": true,
}

// octalMode is a file mode written in octal ("0640", 0640 or 640).
type octalMode struct {
	set  bool
	mode uint32
}

func (m *octalMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("filePermission must be an octal number such as \"0640\"")
	}
	v := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0O")
	mode, err := strconv.ParseUint(v, 8, 32)
	if err != nil || mode > 0o777 {
		return fmt.Errorf("filePermission %q is not an octal file mode between 0000 and 0777", n.Value)
	}
	m.set, m.mode = true, uint32(mode)
	return nil
}

// file is where the object is written: its alias, else its name.
func (o *object) file() string {
	if o.Alias != "" {
		return o.Alias
	}
	return o.Name
}

// requestKey identifies the Coffer request an object needs, so that objects
// sharing one (say username and password of database/creds/app) are served
// from one response, and one dynamic credential.
func (o *object) requestKey() string {
	args, _ := json.Marshal(o.Args) // map keys are sorted
	return o.Method + " " + o.Path + "?version=" + o.Version + "&" + string(args)
}

// parseAttributes checks the attributes of a Mount request. Every error is a
// BadParameters MountError naming the parameter.
func parseAttributes(attrs string, defaultAddress string) (*mountParams, error) {
	if len(attrs) > maxAttrsBytes {
		return nil, badParam("attributes", "larger than %d bytes", maxAttrsBytes)
	}
	var a map[string]string
	if err := json.Unmarshal([]byte(attrs), &a); err != nil {
		return nil, badParam("attributes", "not a JSON object of strings: %v", err)
	}
	p := &mountParams{
		role: a["roleName"], address: a["cofferAddress"], audience: a["audience"],
		caCertPath: a["cofferCACertPath"], serverName: a["cofferTLSServerName"],
		podName: a[attrPodName], podNS: a[attrPodNS], podUID: a[attrPodUID], saName: a[attrSAName],
	}
	if p.role == "" {
		return nil, badParam("roleName", "required: the Coffer role to log in as")
	}
	if p.address == "" {
		p.address = defaultAddress
	}
	if err := checkAddress(p.address); err != nil {
		return nil, err
	}
	var err error
	if p.authMount, err = cleanAuthMount(a["authMountPath"]); err != nil {
		return nil, err
	}
	if v := a["cofferSkipTLSVerify"]; v != "" {
		if p.skipVerify, err = strconv.ParseBool(v); err != nil {
			return nil, badParam("cofferSkipTLSVerify", "%q is not true or false", v)
		}
	}
	if p.caCertPath != "" && !filepath.IsAbs(p.caCertPath) {
		return nil, badParam("cofferCACertPath", "must be an absolute path on the node")
	}
	if p.jwt, p.jwtExpires, err = pickToken(a[attrSATokens], p.audience); err != nil {
		return nil, err
	}
	if p.objects, err = parseObjects(a["objects"]); err != nil {
		return nil, err
	}
	return p, nil
}

func checkAddress(addr string) error {
	if addr == "" {
		return badParam("cofferAddress", "required (or start the provider with -coffer-address)")
	}
	if !strings.HasPrefix(addr, "https://") && !strings.HasPrefix(addr, "http://") {
		return badParam("cofferAddress", "%q must start with https:// or http://", addr)
	}
	return nil
}

func cleanAuthMount(m string) (string, error) {
	m = strings.Trim(strings.TrimPrefix(strings.Trim(m, "/"), "auth/"), "/")
	if m == "" {
		return "kubernetes", nil
	}
	if !cleanPath(m) {
		return "", badParam("authMountPath", "%q is not a clean mount path", m)
	}
	return m, nil
}

// cleanPath reports whether p is a relative API path without empty, "." or
// ".." segments or characters that would change the URL.
func cleanPath(p string) bool {
	if p == "" || strings.ContainsAny(p, "?#\\\x00") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// pickToken finds the pod's token for audience in the driver's
// serviceAccount.tokens attribute. Without one there is no identity to log
// in with, and the provider never falls back to one of its own.
func pickToken(raw, audience string) (string, time.Time, error) {
	const hint = "the CSIDriver object must request a token (spec.tokenRequests with the audience Coffer expects)"
	var none time.Time
	if raw == "" {
		return "", none, badParam(attrSATokens, "missing: %s", hint)
	}
	type saToken struct {
		Token      string    `json:"token"`
		Expiration time.Time `json:"expirationTimestamp"`
	}
	var tokens map[string]saToken
	if err := json.Unmarshal([]byte(raw), &tokens); err != nil {
		return "", none, badParam(attrSATokens, "not the driver's JSON of tokens by audience")
	}
	if len(tokens) == 0 {
		return "", none, badParam(attrSATokens, "empty: %s", hint)
	}
	var t saToken
	if audience == "" {
		if len(tokens) != 1 {
			return "", none, badParam("audience", "required when the driver passes %d tokens; set it to one of the CSIDriver's tokenRequests audiences", len(tokens))
		}
		for _, t = range tokens {
		}
	} else {
		t = tokens[audience]
	}
	if t.Token == "" {
		return "", none, badParam("audience", "the driver passed no token for audience %q; %s", audience, hint)
	}
	return t.Token, t.Expiration, nil
}

// parseObjects reads the objects parameter: a YAML list of objects (as
// Vault's provider takes them), or Azure's shape, a mapping whose "array"
// holds one YAML text per object.
func parseObjects(raw string) ([]object, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, badParam("objects", "required: a YAML list of objects, each with objectName and secretPath")
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &root); err != nil {
		return nil, badParam("objects", "not YAML: %v", err)
	}
	items, err := objectNodes(&root)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 || len(items) > maxObjects {
		return nil, badParam("objects", "has %d objects; give 1 to %d", len(items), maxObjects)
	}
	objs := make([]object, 0, len(items))
	files := map[string]bool{}
	for i, n := range items {
		o, err := decodeObject(n, i)
		if err != nil {
			return nil, err
		}
		if files[o.file()] {
			return nil, badParam(fmt.Sprintf("objects[%d].objectAlias", i), "file %q is written by another object too", o.file())
		}
		files[o.file()] = true
		objs = append(objs, o)
	}
	return objs, nil
}

func objectNodes(root *yaml.Node) ([]*yaml.Node, error) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "array" {
		n = n.Content[1]
	}
	if n.Kind != yaml.SequenceNode {
		return nil, badParam("objects", "must be a YAML list (or Azure's \"array:\" of YAML texts)")
	}
	items := make([]*yaml.Node, 0, len(n.Content))
	for i, it := range n.Content {
		if it.Kind == yaml.ScalarNode { // Azure: each object is a YAML text
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(it.Value), &doc); err != nil || len(doc.Content) != 1 {
				return nil, badParam(fmt.Sprintf("objects[%d]", i), "not a YAML mapping")
			}
			it = doc.Content[0]
		}
		items = append(items, it)
	}
	return items, nil
}

func decodeObject(n *yaml.Node, i int) (object, error) {
	name := fmt.Sprintf("objects[%d]", i)
	var o object
	if n.Kind != yaml.MappingNode {
		return o, badParam(name, "must be a mapping with objectName and secretPath")
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if key := n.Content[k].Value; !objectKeys[key] {
			return o, badParam(name+"."+key, "unknown key; known keys are objectName, secretPath, secretKey, method, secretArgs, objectType, objectVersion, objectAlias, filePermission, encoding")
		}
	}
	if err := n.Decode(&o); err != nil {
		return o, badParam(name, "%v", err)
	}
	return o, checkObject(&o, name)
}

func checkObject(o *object, name string) error {
	if o.Name == "" {
		return badParam(name+".objectName", "required: the file name")
	}
	if !safeFile(o.file()) {
		return badParam(name+".objectAlias", "file name %q must be a relative path without \"..\", not starting with \"..\" (the driver keeps its ..data there), of at most 4096 bytes with names of at most 255", o.file())
	}
	o.Path = strings.Trim(o.Path, "/")
	if !cleanPath(o.Path) {
		return badParam(name+".secretPath", "%q is not a clean Coffer API path such as secret/data/app", o.Path)
	}
	o.Method = strings.ToUpper(o.Method)
	switch o.Method {
	case "":
		o.Method = "GET"
	case "GET", "POST", "PUT":
	default:
		return badParam(name+".method", "%q: use GET, POST or PUT", o.Method)
	}
	switch o.Type {
	case "":
		o.Type = "secret"
	case "secret", "key", "cert":
	default:
		return badParam(name+".objectType", "%q: use secret, key or cert", o.Type)
	}
	if o.Version != "" {
		if v, err := strconv.Atoi(o.Version); err != nil || v < 1 || o.Method != "GET" {
			return badParam(name+".objectVersion", "%q: a KV version is a number ≥ 1, for a GET", o.Version)
		}
	}
	if o.Encoding == "" {
		o.Encoding = o.ObjectEncoding
	}
	switch strings.ToLower(o.Encoding) {
	case "", "utf-8", "utf8":
		o.Encoding = "utf-8"
	case "base64", "hex":
		o.Encoding = strings.ToLower(o.Encoding)
	default:
		return badParam(name+".encoding", "%q: use utf-8, base64 or hex", o.Encoding)
	}
	if o.Encoding != "utf-8" && o.Type != "secret" {
		return badParam(name+".encoding", "applies to objectType secret only")
	}
	if f := strings.ToLower(o.Format); f != "" && f != "pem" {
		return badParam(name+".objectFormat", "%q: Coffer writes PEM only", o.Format)
	}
	return nil
}

// safeFile reports whether f may be written below the pod's volume: a
// relative path with no "..", "." or empty segments, and no backslash;
// and one the driver's atomic writer accepts (its validatePath): the
// first segment does not start with ".." (the writer's own ..data and
// ..<timestamp> entries live there), no name is over 255 bytes and the
// whole is at most 4096.
func safeFile(f string) bool {
	if f == "" || len(f) > 4096 || path.IsAbs(f) || strings.ContainsAny(f, "\\\x00") || !filepath.IsLocal(f) ||
		strings.HasPrefix(f, "..") {
		return false
	}
	for _, seg := range strings.Split(f, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return false
		}
	}
	return true
}
