// Command kubeup builds the test kube-apiserver and etcd into the cache
// (when they are missing) and, unless -build is given, starts the same
// pair the tests use and keeps it running until Ctrl-C, for debugging by
// hand:
//
//	go run ./test/kubetest/kubeup          # build if needed, start, print how to reach it
//	go run ./test/kubetest/kubeup -build   # only make sure the binaries are built
//
// It prints the API server's URL, the CA file, the admin token file (not
// the token) and a kubeconfig.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/test/kubetest"
)

func main() {
	buildOnly := flag.Bool("build", false, "only build the binaries when they are missing, then exit")
	issuer := flag.String("issuer", "", "service-account issuer (an https URL; default: the API server's URL)")
	keep := flag.Bool("keep", false, "keep the cluster's directory (keys, logs, etcd data) after stopping")
	flag.Parse()
	if err := run(*buildOnly, *issuer, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "kubeup:", err)
		os.Exit(1)
	}
}

func run(buildOnly bool, issuer string, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := kubetest.LocateSource()
	if err != nil {
		return err
	}
	bins, err := src.Build(ctx, os.Stderr)
	if err != nil {
		return err
	}
	if buildOnly {
		fmt.Printf("kube-apiserver: %s\netcd:           %s\n", bins.APIServer, bins.Etcd)
		return nil
	}
	start := time.Now()
	c, err := kubetest.Launch(ctx, bins, kubetest.Options{Issuer: issuer, KeepDir: keep})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf(`kube-apiserver ready in %s
URL:          %s
CA:           %s
admin token:  %s
kubeconfig:   %s
issuer:       %s
etcd:         %s
logs:         %s/kube-apiserver.log, %s/etcd.log
Ctrl-C stops both.
`, time.Since(start).Round(time.Millisecond), c.URL, c.CAFile, c.AdminTokenFile, c.Kubeconfig,
		c.Issuer, c.EtcdURL, c.Dir, c.Dir)
	<-ctx.Done()
	fmt.Println("stopping")
	return nil
}
