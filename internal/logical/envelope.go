package logical

import "time"

// Envelope is Vault's JSON body for a logical response. The HTTP layer
// writes it, and response wrapping keeps it, as it would have been
// written, for the one client that unwraps it.
type Envelope struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	Renewable     bool           `json:"renewable"`
	LeaseDuration int64          `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	WrapInfo      *EnvelopeWrap  `json:"wrap_info"`
	Warnings      []string       `json:"warnings"`
	Auth          *EnvelopeAuth  `json:"auth"`
}

// EnvelopeAuth is the envelope's "auth": the Auth with its lease duration
// in seconds.
type EnvelopeAuth struct {
	*Auth
	LeaseDuration int64             `json:"lease_duration"`
	Metadata      map[string]string `json:"metadata"`
}

// EnvelopeWrap is the envelope's "wrap_info", as Vault's clients read it.
type EnvelopeWrap struct {
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	TTL             int64  `json:"ttl"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

// NewEnvelope renders resp, the answer to the request with requestID, as
// Vault's body: durations in whole seconds, a wrapped response's wrap_info.
// It ignores Raw, Status and DataAtTopLevel, which only the HTTP layer
// acts on.
func NewEnvelope(requestID string, resp *Response) Envelope {
	env := Envelope{RequestID: requestID, Data: resp.Data, Warnings: resp.Warnings}
	if s := resp.Secret; s != nil {
		env.LeaseID, env.Renewable, env.LeaseDuration = s.LeaseID, s.Renewable, int64(s.TTL.Seconds())
	}
	if au := resp.Auth; au != nil {
		env.Auth = &EnvelopeAuth{Auth: au, LeaseDuration: int64(au.LeaseDuration.Seconds()), Metadata: au.Metadata}
	}
	if w := resp.WrapInfo; w != nil {
		env.WrapInfo = &EnvelopeWrap{
			Token: w.Token, Accessor: w.Accessor, TTL: int64(w.TTL.Seconds()),
			CreationTime: w.CreationTime.Format(time.RFC3339Nano), CreationPath: w.CreationPath,
			WrappedAccessor: w.WrappedAccessor,
		}
	}
	return env
}
