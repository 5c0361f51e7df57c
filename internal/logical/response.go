package logical

import "time"

// Response is what an engine returns for a Request. A nil Response with a nil
// error means "nothing there": the HTTP layer answers 404 for reads and lists
// and 204 for writes.
type Response struct {
	Data     map[string]any
	Secret   *Secret
	Auth     *Auth
	Warnings []string
	// Raw, when set, is written as the whole HTTP body instead of an envelope,
	// with RawStatus (200 when zero). Used by endpoints such as sys/health
	// that Vault clients expect bare.
	Raw       any
	RawStatus int
	// Status, when non-zero, overrides the status code of an enveloped
	// response: KV v2 answers 404 with metadata for a deleted version.
	Status int
	// DataAtTopLevel asks for Vault's legacy shape of some sys/ responses
	// (sys/mounts, sys/policy, ...): each Data field is rendered at the top
	// level of the body too, beside the envelope's own fields, which win
	// where a name is the same. Older clients still read it there.
	DataAtTopLevel bool
}

// Secret carries lease information for a response that hands out something
// with a lifetime.
type Secret struct {
	LeaseID   string
	TTL       time.Duration
	Renewable bool
}

// AddWarning appends a warning shown to the client alongside the data.
func (r *Response) AddWarning(w string) { r.Warnings = append(r.Warnings, w) }

// DataResponse is a convenience for the common case of a response with data only.
func DataResponse(data map[string]any) *Response { return &Response{Data: data} }
