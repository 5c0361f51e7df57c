// Package injector is `coffer injector`: a Kubernetes mutating admission
// webhook that adds `coffer agent` containers to pods that ask for them
// with annotations (coffer.io/agent-inject: "true", or Vault's
// vault.hashicorp.com/ spellings of the same annotations).
//
// For such a pod it adds an init container that logs in with the pod's own
// projected service-account token and renders every requested secret once
// into an in-memory volume mounted at /coffer/secrets in every container,
// and (unless coffer.io/agent-pre-populate-only is true) a sidecar that
// keeps the files fresh. The agents' configuration is generated here as
// JSON, checked with the same parser `coffer agent` uses, and passed in
// the COFFER_AGENT_CONFIG environment variable (base64), never on a
// command line.
//
// It is for: turning annotations into a JSON Patch of the pod, serving
// AdmissionReview v1 over HTTPS, and describing the
// MutatingWebhookConfiguration that points at it.
//
// It is not for: talking to the Coffer server or to the Kubernetes API
// (the webhook reads only what the API server sends it), rendering
// secrets (internal/agent does, inside the pod), or issuing its own TLS
// certificate (the operator or the Helm chart provides one).
package injector
