// Command kube-apiserver is the upstream Kubernetes API server, built from
// k8s.io/kubernetes so Coffer's tests can run against a real one. It is a
// test tool only: the harness in github.com/cofferhq/coffer/test/kubetest
// builds it into a cache outside the clone and starts it beside etcd.
package main

import (
	"os"
	_ "time/tzdata" // as upstream: time zones for CronJob validation

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // as upstream: the JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as upstream: client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // as upstream: the version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
