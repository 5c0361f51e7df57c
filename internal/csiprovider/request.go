package csiprovider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// sessionRetry says a cached token was refused: log in again, once.
type sessionRetry struct{}

func (*sessionRetry) Error() string { return "cached token refused" }

// request sends o's request to Coffer with the pod's token.
func (s *session) request(ctx context.Context, o *object, i int) (*apiResponse, error) {
	if err := s.login(ctx); err != nil {
		return nil, err
	}
	var query url.Values
	var body any
	if o.Method == "GET" {
		query = url.Values{}
		for k, v := range o.Args {
			query.Set(k, fmt.Sprint(v))
		}
		if o.Version != "" {
			query.Set("version", o.Version)
		}
	} else if o.Args != nil {
		body = o.Args
	} else {
		body = map[string]any{}
	}
	r, err := call(ctx, s.hc, s.mp.address, o.Method, o.Path, s.token, query, body, &s.budget)
	if err != nil {
		var he *httpStatusError
		if errors.As(err, &he) && he.Status == http.StatusForbidden && !s.fresh {
			s.p.tokens.drop(s.tokenKey())
			s.token = ""
			return nil, &sessionRetry{}
		}
		return nil, s.classify(ctx, err, o.Name, i)
	}
	if o.Version != "" {
		if _, kv2 := secretData(r); !kv2 {
			return nil, badParam(fmt.Sprintf("objects[%d].objectVersion", i), "%s is not a KV v2 path (secret/data/…), so it has no versions", o.Path)
		}
	}
	return r, nil
}

// classify turns a failed call into a MountError a person can act on, and
// puts the address in back-off when the server is away or busy. object is
// "" for the login.
func (s *session) classify(ctx context.Context, err error, object string, i int) error {
	var me *MountError
	if errors.As(err, &me) {
		return me
	}
	mp := s.mp
	now := s.p.cfg.Now()
	var ue *unreachableError
	if errors.As(err, &ue) {
		if ctx.Err() != nil {
			return mountErr(CodeServerUnreachable, "no answer from Coffer at %s before the driver's deadline (%v)", mp.address, ctx.Err())
		}
		// The cause without the request's URL: the message is also
		// what other pods get while the address is in back-off, and
		// the URL names this pod's paths.
		cause := ue.err
		var uerr *url.Error
		if errors.As(cause, &uerr) {
			cause = uerr.Err
		}
		me = mountErr(CodeServerUnreachable, "cannot reach Coffer at %s: %v (check cofferAddress, the network policy and cofferCACertPath/cofferTLSServerName)", mp.address, cause)
		s.p.backoff.fail(mp.address, me, now)
		return me
	}
	var he *httpStatusError
	if !errors.As(err, &he) {
		return mountErr(CodeInternal, "%v", err)
	}
	what := fmt.Sprintf("object %q (secretPath %s)", object, s.mp.objects[max(i, 0)].Path)
	login := fmt.Sprintf("login as role %q at auth/%s", mp.role, mp.authMount)
	if object == "" {
		what = login
	}
	switch {
	case he.Status == http.StatusServiceUnavailable:
		me = mountErr(CodeSealed, "Coffer at %s is sealed or not ready (HTTP 503): unseal it (coffer operator unseal) and the mount is retried", mp.address)
		s.p.backoff.fail(mp.address, me, now)
	case he.Status == http.StatusTooManyRequests:
		me = mountErr(CodeServerError, "Coffer at %s is rate limiting (HTTP 429) during %s", mp.address, what)
		s.p.backoff.fail(podBackoffKey(mp.address, s.ident), me, now)
	case object == "" && he.Status == http.StatusNotFound:
		me = badParam("authMountPath", "no auth method answers at auth/%s on %s (%s)", mp.authMount, mp.address, he.Msg)
	case object == "" && (he.Status == http.StatusBadRequest || he.Status == http.StatusForbidden):
		me = mountErr(CodePermissionDenied, "%s refused for service account %s/%s: %s (check roleName, authMountPath and the role's bound service accounts and audience)", login, mp.podNS, mp.saName, orDefault(he.Msg, "permission denied"))
	case he.Status == http.StatusForbidden:
		me = mountErr(CodePermissionDenied, "role %q may not %s %s for %s: grant it in the role's policies", mp.role, verb(s.mp.objects[i].Method), s.mp.objects[i].Path, what)
	case he.Status == http.StatusNotFound:
		me = mountErr(CodeObjectNotFound, "%s: not found on %s%s", what, mp.address, versionNote(s.mp.objects[i]))
	case he.Status == http.StatusBadRequest:
		me = badParam(fmt.Sprintf("objects[%d]", i), "Coffer refused the request for %s: %s", what, he.Msg)
	default:
		me = mountErr(CodeServerError, "%s: Coffer answered %v", what, he)
	}
	return me
}

func verb(method string) string {
	if method == "GET" {
		return "read"
	}
	return "update (" + method + ")"
}

func versionNote(o object) string {
	if o.Version != "" {
		return " (objectVersion " + o.Version + ")"
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
