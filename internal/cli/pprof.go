package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// errPprofNotLoopback refuses a -pprof address that others could reach:
// the debug listener has no authentication at all.
var errPprofNotLoopback = errors.New("-pprof must listen on a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)")

// listenPprof opens the -pprof listener, refusing any address whose host is
// not a loopback IP or "localhost" (an empty host would mean every interface).
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errPprofNotLoopback
	}
	return net.Listen("tcp", addr)
}

// servePprof serves net/http/pprof's handlers on ln until ctx ends, on a
// mux of its own: the server's API listeners never serve them (those
// answer sys/pprof/* to sudo tokens only). Importing net/http/pprof also
// registers them on http.DefaultServeMux, which nothing in Coffer serves.
func servePprof(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
}
