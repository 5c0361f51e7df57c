// Package k8sconnect is `coffer k8s connect`: the one command that joins a
// Kubernetes workload to Coffer. Against the current kube context it
// creates a token-reviewer service account with the system:auth-delegator
// binding; against the Coffer server it enables and configures the
// kubernetes auth method for that cluster, writes a read policy for the
// workload's paths and a role bound to its service account; then it
// renders the SecretProviderClass and the pod annotations that use them.
//
// It is for: setting up what exists already (a cluster, a server) once,
// idempotently; running it again updates the same objects.
//
// It is not for: installing Coffer, the injector or the CSI driver (the
// Helm chart does), or anything a pod runs.
package k8sconnect
