package framework

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/logical"
)

// OperationFunc handles one operation on one route.
type OperationFunc func(ctx context.Context, req *logical.Request, d *FieldData) (*logical.Response, error)

// ExistenceFunc reports whether the target of a write exists already.
type ExistenceFunc func(ctx context.Context, req *logical.Request, d *FieldData) (bool, error)

// Path is one route. Pattern is a regular expression matched against the
// whole path relative to the mount; its named groups become fields.
type Path struct {
	Pattern    string
	Fields     map[string]*FieldSchema
	Operations map[logical.Operation]OperationFunc
	// ExistenceCheck lets a write be authorised as "create" when the target
	// does not exist. Without it, writes are updates.
	ExistenceCheck ExistenceFunc
	// TakesArbitraryInput suppresses the warning about undeclared fields,
	// for routes such as KV writes whose body is the secret itself. Their
	// handlers may read req.Data as it came; elsewhere handlers read input
	// only through FieldData, which is what policy parameter rules check
	// (see ParseParams).
	TakesArbitraryInput bool
	// Help is a one-line summary of the route.
	Help string
	// LoginAlias, on a login route, returns what the login attempts (a
	// user name, a role ID) from its fields, normalised as the handler
	// compares it, without looking it up; the core's user lockout counts
	// failures per alias with it (see logical.LoginAliaser). The handler
	// must then answer bad credentials with logical.ErrInvalidCredentials.
	LoginAlias func(d *FieldData) string
}

// Backend serves a table of Paths. The zero value is not usable; build one
// as a struct literal. Safe for concurrent use once built.
type Backend struct {
	Paths   []*Path
	Special *logical.Paths
	// Secrets are the kinds of leased secret the backend hands out; the
	// lease manager's RenewOperation and RevokeOperation requests reach
	// them (see Secret).
	Secrets []*Secret
	// Clean, when set, is called by Cleanup.
	Clean func(ctx context.Context)
	// AuthRenew, when set, re-checks a login when its token is renewed
	// (see logical.AuthRenewer); an error refuses the renewal.
	AuthRenew func(ctx context.Context, req *logical.Request) error
	// BackgroundStart and BackgroundStop, when set, resume and halt the
	// backend's own scheduled work (see logical.BackgroundRunner).
	BackgroundStart func(ctx context.Context)
	BackgroundStop  func()

	once     sync.Once
	compiled []compiledPath
}

// compiledPath is a Path with its pattern compiled and its field names
// indexed.
type compiledPath struct {
	re *regexp.Regexp
	// prefix is the literal text every match begins with, checked before
	// running the regexp.
	prefix string
	// caps are the pattern's named groups.
	caps []capture
	// names maps every name a field is accepted under (its own and its
	// aliases) to the field's own name.
	names map[string]string
	// allNames lists, for each field, its own name then its aliases.
	allNames map[string][]string
	// fields are the path's fields in name order, walked per request
	// instead of ranging over the schema map.
	fields []namedField
}

// namedField is one field of a path's schema.
type namedField struct {
	name   string
	schema *FieldSchema
}

var (
	_ logical.Backend          = (*Backend)(nil)
	_ logical.ExistenceChecker = (*Backend)(nil)
	_ logical.PathInfo         = (*Backend)(nil)
	_ logical.Cleaner          = (*Backend)(nil)
	_ logical.AuthRenewer      = (*Backend)(nil)
	_ logical.ParamParser      = (*Backend)(nil)
	_ logical.LoginAliaser     = (*Backend)(nil)
	_ logical.BackgroundRunner = (*Backend)(nil)
)

// compile compiles the patterns and indexes the field names once. It
// panics when a route declares one name twice (a field and an alias, or two
// aliases), which is a bug in the engine.
func (b *Backend) compile() {
	b.once.Do(func() {
		b.compiled = make([]compiledPath, len(b.Paths))
		for i, p := range b.Paths {
			names := fieldNames(p)
			all := make(map[string][]string, len(p.Fields))
			fields := make([]namedField, 0, len(p.Fields))
			for name, s := range p.Fields {
				all[name] = append([]string{name}, s.Aliases...)
				fields = append(fields, namedField{name, s})
			}
			slices.SortFunc(fields, func(a, b namedField) int { return strings.Compare(a.name, b.name) })
			re := regexp.MustCompile("^" + p.Pattern + "$")
			prefix, _ := re.LiteralPrefix()
			var caps []capture
			for j, name := range re.SubexpNames() {
				if name != "" {
					caps = append(caps, capture{name: name, idx: j})
				}
			}
			b.compiled[i] = compiledPath{re: re, prefix: prefix, caps: caps, names: names, allNames: all, fields: fields}
		}
	})
}

func fieldNames(p *Path) map[string]string {
	names := make(map[string]string, len(p.Fields))
	for name := range p.Fields {
		names[name] = name
	}
	for name, s := range p.Fields {
		for _, alias := range s.Aliases {
			if _, dup := names[alias]; dup {
				panic(fmt.Sprintf("framework: route %q declares the name %q twice", p.Pattern, alias))
			}
			names[alias] = name
		}
	}
	return names
}

// route finds the first path whose pattern matches and returns it with the
// regexp's submatches (cp.caps names the groups among them).
func (b *Backend) route(path string) (*Path, *compiledPath, []string) {
	b.compile()
	for i := range b.compiled {
		cp := &b.compiled[i]
		if !strings.HasPrefix(path, cp.prefix) {
			continue
		}
		if m := cp.re.FindStringSubmatch(path); m != nil {
			return b.Paths[i], cp, m
		}
	}
	return nil, nil, nil
}

// fieldData lays the captures over the request data (captures win) and
// validates them against the route's schema. The strings returned are
// warnings about input the handler will not see: undeclared fields, and
// older names that lost to the field's own name.
func fieldData(p *Path, cp *compiledPath, req *logical.Request, match []string) (*FieldData, []string, error) {
	d, err := newFieldData(input{data: req.Data, caps: cp.caps, match: match}, p.Fields, cp.fields)
	if err != nil || len(req.Data) == 0 {
		return d, nil, err
	}
	var unknown, ignored []string
	for k, v := range req.Data {
		name, declared := cp.names[k]
		switch {
		case !declared && !p.TakesArbitraryInput:
			unknown = append(unknown, k)
		case declared && name != k && v != nil && d.from(name) != k:
			ignored = append(ignored, fmt.Sprintf("Endpoint ignored %q because %q is set and takes precedence", k, d.from(name)))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		ignored = append(ignored, fmt.Sprintf("Endpoint ignored these unrecognized parameters: [%s]", strings.Join(unknown, " ")))
	}
	slices.Sort(ignored)
	return d, ignored, nil
}

// HandleRequest routes req to its handler. It returns an error wrapping
// logical.ErrUnsupportedPath when no route matches and
// logical.ErrUnsupportedOperation when the route lacks the operation.
func (b *Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation == logical.RenewOperation || req.Operation == logical.RevokeOperation {
		if req.Secret == nil {
			return nil, logical.InvalidRequest("%s needs the secret of a lease", req.Operation)
		}
		return b.handleSecret(ctx, req)
	}
	p, cp, match := b.route(req.Path)
	if p == nil {
		return nil, logical.CodedError(logical.ErrUnsupportedPath, "unsupported path")
	}
	fn := p.handler(req.Operation)
	if fn == nil {
		return nil, logical.CodedError(logical.ErrUnsupportedOperation, "unsupported operation")
	}
	d, warnings, err := fieldData(p, cp, req, match)
	if err != nil {
		return nil, err
	}
	resp, err := fn(ctx, req, d)
	if err != nil || len(warnings) == 0 {
		return resp, err
	}
	if resp == nil {
		resp = &logical.Response{}
	}
	for _, w := range warnings {
		resp.AddWarning(w)
	}
	return resp, nil
}

// handler returns the function serving op on p (a create falls back to the
// update handler), or nil.
func (p *Path) handler(op logical.Operation) OperationFunc {
	fn, ok := p.Operations[op]
	if !ok && op == logical.CreateOperation {
		fn = p.Operations[logical.UpdateOperation]
	}
	return fn
}

// ExistenceCheck implements logical.ExistenceChecker.
func (b *Backend) ExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	p, cp, match := b.route(req.Path)
	if p == nil || p.ExistenceCheck == nil {
		return false, false, nil
	}
	d, _, err := fieldData(p, cp, req, match)
	if err != nil {
		return false, false, err
	}
	exists, err := p.ExistenceCheck(ctx, req, d)
	return true, exists, err
}

// SpecialPaths implements logical.PathInfo.
func (b *Backend) SpecialPaths() *logical.Paths { return b.Special }

// StartBackground implements logical.BackgroundRunner.
func (b *Backend) StartBackground(ctx context.Context) {
	if b.BackgroundStart != nil {
		b.BackgroundStart(ctx)
	}
}

// StopBackground implements logical.BackgroundRunner.
func (b *Backend) StopBackground() {
	if b.BackgroundStop != nil {
		b.BackgroundStop()
	}
}

// Cleanup implements logical.Cleaner.
func (b *Backend) Cleanup(ctx context.Context) {
	if b.Clean != nil {
		b.Clean(ctx)
	}
}

// RenewAuth implements logical.AuthRenewer: without an AuthRenew hook every
// renewal is allowed.
func (b *Backend) RenewAuth(ctx context.Context, req *logical.Request) error {
	if b.AuthRenew == nil {
		return nil
	}
	return b.AuthRenew(ctx, req)
}

// LoginAlias implements logical.LoginAliaser with the LoginAlias of the
// route req names, when that route serves req's operation; otherwise it
// returns "". Field errors are returned as the handler would get them.
func (b *Backend) LoginAlias(_ context.Context, req *logical.Request) (string, error) {
	p, cp, match := b.route(req.Path)
	if p == nil || p.LoginAlias == nil {
		return "", nil
	}
	_, ok := p.Operations[req.Operation]
	if !ok && req.Operation == logical.CreateOperation {
		_, ok = p.Operations[logical.UpdateOperation]
	}
	if !ok {
		return "", nil
	}
	d, _, err := fieldData(p, cp, req, match)
	if err != nil {
		return "", err
	}
	return p.LoginAlias(d), nil
}

// GenericNameRegex matches a name of word characters, dots and dashes.
func GenericNameRegex(name string) string {
	return fmt.Sprintf(`(?P<%s>\w(([\w.@-]+)?\w)?)`, name)
}

// MatchAllRegex captures the rest of the path, including slashes.
func MatchAllRegex(name string) string { return fmt.Sprintf(`(?P<%s>.*)`, name) }

// OptionalTrailingSlash lets a pattern end with or without "/".
const OptionalTrailingSlash = `/?`
