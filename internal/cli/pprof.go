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
// "localhost" is whatever the resolver says (/etc/hosts may map it
// elsewhere), so the address actually bound is checked too.
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errPprofNotLoopback
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !boundToLoopback(ln.Addr()) {
		_ = ln.Close()
		return nil, fmt.Errorf("-pprof %q resolved to %s: %w", addr, ln.Addr(), errPprofNotLoopback)
	}
	return ln, nil
}

// boundToLoopback reports whether a listener's address is a loopback IP.
func boundToLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// servePprof serves net/http/pprof's handlers on ln until ctx ends, on a
// mux of its own: the server's API listeners never serve them (those
// answer sys/pprof/* to sudo tokens only). Importing net/http/pprof also
// registers them on http.DefaultServeMux, which nothing in Coffer serves.
//
// The command line is not served (it may hold -dev-root-token-id), and a
// request must name the listener by a loopback host: a web page whose
// name an attacker points at 127.0.0.1 (DNS rebinding) can reach a
// loopback port from the operator's browser, but sends its own name.
func servePprof(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: loopbackHostOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
}

// loopbackHostOnly refuses requests whose Host is not "localhost" or a
// loopback IP, with or without a port.
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hp, _, err := net.SplitHostPort(host); err == nil {
			host = hp
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the pprof listener answers only requests addressed to a loopback host", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
