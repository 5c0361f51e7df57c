// Package csitest serves a csiprovider.Provider for tests as the Secrets
// Store CSI driver reaches it: on a real unix socket, through the driver
// module's own gRPC client.
//
// It is for tests only; `coffer csi-provider` serves the provider itself.
package csitest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
)

// Serve serves p on a unix socket in a fresh temporary directory until the
// test ends, and returns the driver module's client for it. When the test
// ends it closes the client, stops the server and fails the test if
// serving failed.
func Serve(t testing.TB, p *csiprovider.Provider) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "csi") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, csiprovider.Name+".sock")
	ln, err := csiprovider.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- csiprovider.Serve(ctx, ln, p) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return v1alpha1.NewCSIDriverProviderClient(conn)
}
