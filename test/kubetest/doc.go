// Package kubetest runs a real Kubernetes API server (kube-apiserver with
// its etcd, built from upstream sources in the separate test/kube module)
// on loopback for tests, and offers client-go helpers for what Coffer's
// Kubernetes and JWT auth tests need: namespaces, service accounts, bound
// tokens from the TokenRequest API, pods to bind them to, TokenReview, the
// system:auth-delegator grant, anonymous OIDC discovery, and admission
// webhooks served on loopback and registered with the API server.
//
// The cluster has no controller-manager, scheduler or kubelet: pods are API
// objects only, namespaces are never finalised once deleted, and no
// "default" service account is created in new namespaces. It is for
// authentication tests, not for running workloads.
//
// The binaries are built once into a cache outside the clone (see
// LocateSource) by scripts/test.sh or `go run ./test/kubetest/kubeup
// -build`; tests never build them. Without them a test is skipped locally
// and fails when CI=true.
//
// Typical use, one cluster per test binary:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
//	func TestLogin(t *testing.T) {
//		kc := kubetest.Shared(t)
//		ns := kc.NewNamespace(t, nil)
//		kc.CreateServiceAccount(t, ns, "app")
//		jwt := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}})
//		...
//	}
//
// It is not for production use and never part of the coffer binary.
package kubetest
