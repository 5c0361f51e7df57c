package logical

import (
	"io"
	"net/http"
	"time"
)

// Operation is what a request asks to do to a path. The HTTP layer maps
// verbs onto it; policies grant capabilities named after it.
type Operation string

// The operations. Create and Update both arrive as PUT/POST; the core turns
// an Update into a Create when the backend reports that the target does not
// exist yet, so that the "create" capability can be told apart.
const (
	CreateOperation Operation = "create"
	ReadOperation   Operation = "read"
	UpdateOperation Operation = "update"
	PatchOperation  Operation = "patch"
	DeleteOperation Operation = "delete"
	ListOperation   Operation = "list"
	// RenewOperation and RevokeOperation are never sent by clients: the
	// lease manager sends them to the mount that issued a leased secret,
	// with Request.Secret set and Path the path that issued it.
	RenewOperation  Operation = "renew"
	RevokeOperation Operation = "revoke"
)

// Request is one operation on one path, after HTTP has been translated away.
//
// Path is relative to the mount when an engine sees it, and absolute (with
// the mount prefix) when the core does. Data holds the decoded body for
// writes and the query parameters for reads. ClientToken is the caller's
// token; engines other than the token store should not need it.
type Request struct {
	ID          string
	Operation   Operation
	Path        string
	Data        map[string]any
	Storage     Storage
	ClientToken string
	MountPoint  string
	MountType   string
	// MountAccessor identifies the mount that served the request.
	MountAccessor string
	// Headers holds selected request headers (never the token header).
	Headers http.Header
	// Auth describes the authenticated caller; nil on unauthenticated paths.
	Auth *Auth
	// RemoteAddr is the client's address ("host:port") for rate limiting,
	// bound CIDRs and audit: the connecting peer's, or, behind a proxy the
	// listener's x_forwarded_for_authorized_addrs trusts, the one that
	// proxy forwarded.
	RemoteAddr string
	// RateLimit is filled by the core, on the request the HTTP layer
	// passed it, when a rate-limit quota decided the request and the
	// response headers are enabled.
	RateLimit RateLimitStatus
	// Unauthenticated is true when the path was served without a token.
	Unauthenticated bool
	// Sudo is true when the caller's policies grant the sudo capability on
	// this path (root always has it); set by the core after authorisation.
	Sudo bool
	// WrapTTL is the response wrapping the client asked for
	// (X-Vault-Wrap-TTL): the response is to be kept in a single-use
	// wrapping token living this long. Zero means no wrapping.
	WrapTTL time.Duration
	// Body is the raw request body of the few routes that take a stream
	// instead of JSON (a snapshot upload: see httpapi's streamedBodyPaths);
	// nil otherwise. It is read only after authorisation, by the handler.
	Body io.Reader
	// Secret is the leased secret being renewed or revoked, on the
	// RenewOperation and RevokeOperation requests of the lease manager;
	// nil otherwise.
	Secret *Secret
}

// Get returns Data[key], or nil when Data is nil or the key is absent.
func (r *Request) Get(key string) any {
	if r.Data == nil {
		return nil
	}
	return r.Data[key]
}

// Auth describes a token: the one presented with a request, or one being
// issued by a login or a token create.
type Auth struct {
	ClientToken   string   `json:"client_token"`
	Accessor      string   `json:"accessor"`
	Policies      []string `json:"policies"`
	TokenPolicies []string `json:"token_policies"`
	// IdentityPolicies, on an issued login, are the policies the token's
	// entity adds at request time (Policies then includes them too).
	IdentityPolicies []string          `json:"identity_policies"`
	Metadata         map[string]string `json:"metadata"`
	DisplayName      string            `json:"-"`
	LeaseDuration    time.Duration     `json:"-"`
	Renewable        bool              `json:"renewable"`
	EntityID         string            `json:"entity_id"`
	TokenType        string            `json:"token_type"`
	Orphan           bool              `json:"orphan"`
	NumUses          int               `json:"num_uses"`
	// ExplicitMaxTTL and Period shape the lifetime of a token being issued.
	ExplicitMaxTTL time.Duration `json:"-"`
	Period         time.Duration `json:"-"`
	// BoundCIDRs, when set, limits where the issued token may be used from
	// (CIDR blocks); the core refuses requests from elsewhere.
	BoundCIDRs []string `json:"-"`
	// NoDefaultPolicy, on a token being issued, leaves out the "default"
	// policy that tokens otherwise always carry.
	NoDefaultPolicy bool `json:"-"`
	// Alias, on a login, names the identity the auth method vouched for
	// (a user name, a service account's UID, a JWT's user claim) with
	// metadata about it, for the identity store: the core finds or creates
	// the entity alias (this mount's accessor + Alias.Name) and its entity,
	// and the issued token carries the entity's ID. Nil elsewhere.
	Alias *Alias `json:"-"`
	// GroupAliases, on a login, are the groups the caller belongs to as the
	// auth method knows them (a JWT's groups_claim values), for the
	// identity store's group aliases; nil when the method names none.
	GroupAliases []*Alias `json:"-"`
}

// Alias is the identity a login proved, as an auth method reports it.
type Alias struct {
	// Name is unique within the auth mount (Vault's alias name).
	Name string
	// Metadata is shown in templated policies as
	// identity.entity.aliases.<mount accessor>.metadata.<key>.
	Metadata map[string]string
}
