package cli

import (
	"context"
	"errors"
	"io"
	"net/http"
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
