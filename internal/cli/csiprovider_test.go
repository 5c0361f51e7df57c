package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// TestCSIProviderCommand starts `coffer csi-provider -endpoint=…`, asks it
// for its version with the driver's own gRPC client, and stops it, after
// which the socket is gone.
func TestCSIProviderCommand(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "csicli")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sub", "coffer.sock")
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- newApp(e).RunContext(ctx, []string{"coffer", "csi-provider", "-endpoint=" + sock, "-coffer-address=http://127.0.0.1:1"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode().Perm() == 0o600 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no socket at %s: %v %s", sock, <-done, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := v1alpha1.NewCSIDriverProviderClient(conn).Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil || v.GetRuntimeName() != "coffer" || v.GetRuntimeVersion() != Version {
		t.Fatalf("Version = %v, %v", v, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("csi-provider exited with %v (%s)", err, errOut.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if !strings.Contains(out.String(), "listening on unix://"+sock) {
		t.Fatalf("stdout = %q", out.String())
	}
}
