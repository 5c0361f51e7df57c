// Package kubernetes is the Kubernetes auth method, speaking the API of
// Vault's kubernetes plugin: a pod proves who it is with its own
// service-account token and gets a Coffer token with its role's policies.
// It serves config (the cluster: kubernetes_host, kubernetes_ca_cert,
// token_reviewer_jwt, pem_keys, issuer, disable_iss_validation,
// disable_local_ca_jwt, and Coffer's oidc_discovery_url), role/<name>
// (bound service account names and namespaces as globs, a namespace label
// selector, audience, alias_name_source, token settings) and login (role,
// jwt).
//
// Tokens are checked in one of two modes, chosen by the config:
//
//   - TokenReview (oidc_discovery_url empty, the default, as in Vault): each
//     login asks the cluster's TokenReview API, so deleted service accounts
//     and deleted bound pods are refused. With pem_keys the signature (and,
//     unless disable_iss_validation, the issuer) is checked locally first.
//   - Offline (oidc_discovery_url set): the token is checked against the
//     cluster's OIDC discovery document and JWKS, with internal/jwtverify
//     (keys cached, fetched again for an unknown key ID at most once per 5
//     s); no API call per login. A deleted service account or pod is not
//     noticed until its token expires.
//
// When Coffer runs in a pod and disable_local_ca_jwt is false, the pod's own
// service-account token and CA (/var/run/secrets/kubernetes.io/serviceaccount)
// stand in for token_reviewer_jwt and kubernetes_ca_cert, re-read when the
// kubelet rotates them.
//
// A login returns a logical.Auth whose Alias is the service account (its UID
// or namespace/name, per alias_name_source) with its name and namespace as
// metadata, for templated policies. Failed logins are limited per (role,
// client address) by internal/loginlimit. It is not a Kubernetes client
// library: it makes two kinds of API call (TokenReview, reading a
// namespace's labels) over plain HTTPS.
package kubernetes
