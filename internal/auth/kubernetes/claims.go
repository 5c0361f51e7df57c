package kubernetes

import (
	"bytes"
	"encoding/json"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify"
)

// saUserPrefix starts the user name (and the "sub") of every service
// account: system:serviceaccount:<namespace>:<name>.
const saUserPrefix = "system:serviceaccount:"

// serviceAccount is who a token proved to be.
type serviceAccount struct {
	Namespace  string
	Name       string
	UID        string
	SecretName string
}

// The claims of legacy, secret-based service-account tokens.
const (
	legacyNamespace  = "kubernetes.io/serviceaccount/namespace"
	legacyName       = "kubernetes.io/serviceaccount/service-account.name"
	legacyUID        = "kubernetes.io/serviceaccount/service-account.uid"
	legacySecretName = "kubernetes.io/serviceaccount/secret.name"
)

// fromClaims reads the service account from verified claims: the
// "kubernetes.io" object of bound tokens, or the flat claims of legacy
// secret-based tokens. The "sub" must name the same account. Errors wrap
// jwtverify.ErrInvalidToken and name the claim, never its value.
func fromClaims(c jwtverify.Claims) (serviceAccount, error) {
	var sa serviceAccount
	var err error
	read := func(dst *string, ref string) {
		if err == nil {
			*dst, err = c.String(ref)
		}
	}
	if _, bound := c.Lookup("kubernetes.io"); bound {
		read(&sa.Namespace, "/kubernetes.io/namespace")
		read(&sa.Name, "/kubernetes.io/serviceaccount/name")
		read(&sa.UID, "/kubernetes.io/serviceaccount/uid")
		if _, ok := c.Lookup("/kubernetes.io/secret"); ok {
			read(&sa.SecretName, "/kubernetes.io/secret/name")
		}
	} else {
		read(&sa.Namespace, legacyNamespace)
		read(&sa.Name, legacyName)
		read(&sa.UID, legacyUID)
		if _, ok := c.Lookup(legacySecretName); ok {
			read(&sa.SecretName, legacySecretName)
		}
	}
	var sub string
	read(&sub, "sub")
	if err != nil {
		return sa, err
	}
	if sa.Namespace == "" || sa.Name == "" || sa.UID == "" {
		return sa, denied("the token names no service account (empty namespace, name or uid claim)")
	}
	if sub != saUserPrefix+sa.Namespace+":"+sa.Name {
		return sa, denied("the token's sub claim does not name the service account its kubernetes.io claims name")
	}
	return sa, nil
}

// fromReview reads the service account from an authenticated TokenReview.
func fromReview(r *reviewResult) (serviceAccount, error) {
	rest, ok := strings.CutPrefix(r.Username, saUserPrefix)
	ns, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || name == "" || r.UID == "" {
		return serviceAccount{}, denied("the token does not belong to a service account")
	}
	return serviceAccount{Namespace: ns, Name: name, UID: r.UID}, nil
}

// secretNameOf returns the legacy secret-name claim of a token the API
// server has already authenticated (so its payload can be trusted without
// checking the signature again here), or "" (bound tokens have none).
func secretNameOf(token string) string {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512})
	if err != nil {
		return ""
	}
	var c map[string]any
	if json.NewDecoder(bytes.NewReader(jws.UnsafePayloadWithoutVerification())).Decode(&c) != nil {
		return ""
	}
	if k8s, ok := c["kubernetes.io"].(map[string]any); ok {
		if s, ok := k8s["secret"].(map[string]any); ok {
			name, _ := s["name"].(string)
			return name
		}
		return ""
	}
	name, _ := c[legacySecretName].(string)
	return name
}
