package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestListenPprofOnlyLoopback(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		addr    string
		refused bool
	}{
		"ipv4 loopback":  {addr: "127.0.0.1:0"},
		"localhost":      {addr: "localhost:0"},
		"every address":  {addr: ":0", refused: true},
		"all interfaces": {addr: "0.0.0.0:0", refused: true},
		"a name":         {addr: "example.com:0", refused: true},
		"no port":        {addr: "127.0.0.1", refused: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, err := listenPprof(tc.addr)
			if (err != nil) != tc.refused {
				t.Fatalf("listenPprof(%q) = %v, refused %v", tc.addr, err, tc.refused)
			}
			if ln != nil {
				ln.Close()
			}
		})
	}
	if _, err := listenPprof("0.0.0.0:0"); !errors.Is(err, errPprofNotLoopback) {
		t.Fatalf("err = %v", err)
	}
}

func TestServePprof(t *testing.T) {
	t.Parallel()
	ln, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { servePprof(ctx, ln); close(done) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("status %d: %.200s", resp.StatusCode, body)
	}
	cancel()
	<-done
}

// TestPprofRefusesRebindingAndHidesTheCommandLine: a request naming
// another host (a page whose name was pointed at 127.0.0.1) is refused,
// and the command line, which may carry -dev-root-token-id, is not served.
func TestPprofRefusesRebindingAndHidesTheCommandLine(t *testing.T) {
	t.Parallel()
	ln, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { servePprof(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	get := func(path, host string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, host := range []string{"", "localhost", "localhost:1234", "[::1]:80", "127.0.0.2"} {
		if code, body := get("/debug/pprof/goroutine?debug=1", host); code != http.StatusOK {
			t.Fatalf("Host %q: status %d: %.200s", host, code, body)
		}
	}
	for _, host := range []string{"attacker.example", "attacker.example:8200", "10.0.0.1", "localhost.attacker.example"} {
		if code, _ := get("/debug/pprof/goroutine?debug=1", host); code != http.StatusForbidden {
			t.Fatalf("Host %q: status %d, want 403", host, code)
		}
	}
	if code, body := get("/debug/pprof/cmdline", ""); code == http.StatusOK && strings.Contains(body, os.Args[0]) {
		t.Fatalf("the command line is served: %.200q", body)
	}
}

// TestBoundToLoopback: the check listenPprof makes of the address actually
// bound, for a "localhost" the resolver maps off the machine.
func TestBoundToLoopback(t *testing.T) {
	t.Parallel()
	for a, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}: true,
		&net.TCPAddr{IP: net.IPv6loopback}:       true,
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 7)}:  false,
		&net.TCPAddr{IP: net.IPv4zero}:           false,
		&net.UnixAddr{Name: "/tmp/x"}:            false,
	} {
		if got := boundToLoopback(a); got != want {
			t.Errorf("boundToLoopback(%v) = %v", a, got)
		}
	}
}
