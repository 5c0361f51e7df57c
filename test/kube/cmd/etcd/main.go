// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3
// as the storage behind the test kube-apiserver. It is a test tool only.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
