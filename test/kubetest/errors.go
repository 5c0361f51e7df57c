package kubetest

import "errors"

var (
	// ErrNotBuilt means the cached kube-apiserver or etcd binary for the
	// current test/kube sources does not exist yet.
	ErrNotBuilt = errors.New("kube binaries not built")
	// ErrBuildFailed means go build of test/kube failed.
	ErrBuildFailed = errors.New("building the kube binaries failed")
	// ErrNoSource means the Coffer module (and so test/kube) was not found
	// above the working directory.
	ErrNoSource = errors.New("test/kube sources not found")
	// ErrStart means etcd or kube-apiserver did not become healthy.
	ErrStart = errors.New("kube cluster did not start")
)
