package logical

// Param is one request parameter as the handler serving the request will
// receive it. The core builds these only when a policy's parameter rules
// must decide, so that the rules check the values the handler will use
// rather than the raw body.
type Param struct {
	// Names are the names a policy rule may use for the parameter: the
	// name the handler reads it under first, then the older names the
	// route also accepts for it (see framework.FieldSchema.Aliases).
	Names []string
	// Values are the elements of the value the handler receives: each
	// element of a list (a JSON array, or a comma-separated string that
	// the field splits), or the value itself. Empty when the handler sees
	// nothing (null, or a list with no elements).
	Values []any
	// Normalize converts one value written in a policy the way the field
	// converts input ("ADMIN*" becomes "admin*" on a lower-cased field, 60
	// and "1m" both become a minute on a duration field), so that it
	// compares with Values; it fails for a value the field would refuse.
	// Nil means Values are raw input and compare as they are.
	Normalize func(policyValue any) (any, error)
}

// ParamParser is implemented by backends that can report a request's
// parameters as the route serving req.Path parses them (types converted,
// lists split, path captures in place of body fields, older names resolved),
// through the same code that builds the handler's input. ok is false when
// no route serves req.Path; err is the 400 the handler would answer for
// input that does not convert. Safe for concurrent use; req is only read.
type ParamParser interface {
	ParseParams(req *Request) (params []Param, ok bool, err error)
}

// RequestParams returns req's parameters as b's handler will receive them:
// from b's ParamParser when it has one and a route serves req.Path, and as
// raw input (RawParams) otherwise.
func RequestParams(b Backend, req *Request) ([]Param, error) {
	if pp, ok := b.(ParamParser); ok {
		params, found, err := pp.ParseParams(req)
		if found || err != nil {
			return params, err
		}
	}
	return RawParams(req.Data), nil
}

// RawParams describes data as it is, one Param per key: for input no
// schema describes, such as a KV secret's own keys.
func RawParams(data map[string]any) []Param {
	if len(data) == 0 {
		return nil
	}
	out := make([]Param, 0, len(data))
	for k, v := range data {
		out = append(out, RawParam(k, v))
	}
	return out
}

// RawParam describes one raw value: the elements of a JSON array (nested
// arrays flattened, since the handler stores every element) or the value
// itself, compared without conversion.
func RawParam(name string, v any) Param {
	return Param{Names: []string{name}, Values: flatten(nil, v)}
}

func flatten(out []any, v any) []any {
	switch l := v.(type) {
	case []any:
		for _, el := range l {
			out = flatten(out, el)
		}
	case []string:
		for _, el := range l {
			out = append(out, el)
		}
	default:
		out = append(out, v)
	}
	return out
}
