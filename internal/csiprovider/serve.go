package csiprovider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Listen opens the unix socket at endpoint, creating its directory and
// removing a stale socket left by an earlier run (never any other kind of
// file). The socket is readable and writable by its owner only: the driver
// runs as root on the node.
func Listen(endpoint string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(endpoint), 0o755); err != nil {
		return nil, fmt.Errorf("create the socket's directory: %w", err)
	}
	if fi, err := os.Lstat(endpoint); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", endpoint)
		}
		if err := os.Remove(endpoint); err != nil {
			return nil, fmt.Errorf("remove the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", endpoint)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", endpoint, err)
	}
	if err := os.Chmod(endpoint, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", endpoint, err)
	}
	return ln, nil
}

// Serve answers the driver on ln until ctx ends, then stops gracefully
// (giving calls in flight up to 10 s) and closes ln, which removes the
// socket file.
func Serve(ctx context.Context, ln net.Listener, p *Provider) error {
	srv := grpc.NewServer()
	v1alpha1.RegisterCSIDriverProviderServer(srv, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			srv.Stop()
		}
	}()
	err := srv.Serve(ln)
	if ctx.Err() != nil {
		<-done
		return nil
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}
