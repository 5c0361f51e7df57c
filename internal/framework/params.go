package framework

import (
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// ParseParams implements logical.ParamParser: it builds the handler's input
// for req exactly as HandleRequest does (the same FieldData: captures
// override body fields, older names resolve to the field, types convert)
// and describes each parameter the request sent by the value the handler
// will read. A field sent under two of its names is one parameter. Keys the
// route does not declare are described raw, and on routes that take
// arbitrary input (whose handlers may read the raw body) every key is also
// described raw, so a policy rule must accept both views. When the route
// does not serve req.Operation no handler will run, so the input is
// described raw rather than refused.
func (b *Backend) ParseParams(req *logical.Request) ([]logical.Param, bool, error) {
	p, cp, match := b.route(req.Path)
	if p == nil {
		return nil, false, nil
	}
	if p.handler(req.Operation) == nil {
		return logical.RawParams(req.Data), true, nil
	}
	d, _, err := fieldData(p, cp, req, match)
	if err != nil {
		return nil, true, err
	}
	out := make([]logical.Param, 0, len(req.Data))
	var seen map[string]bool
	for k, v := range req.Data {
		name, declared := cp.names[k]
		if !declared || p.TakesArbitraryInput {
			out = append(out, logical.RawParam(k, v))
		}
		if !declared || seen[name] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool, len(req.Data))
		}
		seen[name] = true
		var values []any
		if f := d.lookup(name); f != nil {
			values = elements(f.v)
		}
		out = append(out, logical.Param{Names: cp.allNames[name], Values: values, Normalize: normalizer(p.Fields[name].Type)})
	}
	return out, true, nil
}

// elements splits a converted value into what a policy compares: each
// string of a list, each element of a raw list, or the value itself.
func elements(v any) []any {
	switch l := v.(type) {
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out
	case []any:
		return logical.RawParam("", l).Values
	}
	return []any{v}
}

// normalizer returns how a value written in a policy converts for a field
// of type t: like one element of input, so that "ADMIN*" on a lower-cased
// list is "admin*" and 60 on a duration is a minute. Nil for raw fields.
func normalizer(t FieldType) func(any) (any, error) {
	switch t {
	case TypeString:
		return normString
	case TypeInt:
		return normInt
	case TypeBool:
		return normBool
	case TypeDurationSecond:
		return normDuration
	case TypeSignedDurationSecond:
		return normSignedDuration
	case TypeLowerString:
		return normLowerString
	case TypeStringSlice:
		return normListElement
	case TypeLowerStrings:
		return normLowerElement
	case TypeMap, TypeKVPairs:
		return normNever
	}
	return nil
}

func normString(v any) (any, error)   { return toString(v) }
func normInt(v any) (any, error)      { return toInt(v) }
func normBool(v any) (any, error)     { return toBool(v) }
func normDuration(v any) (any, error) { return ParseDuration(v) }

func normSignedDuration(v any) (any, error) { return ParseSignedDuration(v) }
func normLowerString(v any) (any, error)    { return toLowerString(v) }

// normListElement and normLowerElement follow toStrings for one element.
func normListElement(v any) (any, error) {
	s, err := toString(v)
	return strings.TrimSpace(s), err
}

func normLowerElement(v any) (any, error) {
	s, err := toString(v)
	return strings.ToLower(strings.TrimSpace(s)), err
}

// normNever: a policy can only name scalars, which never equal an object.
func normNever(any) (any, error) { return nil, errNotScalar }
