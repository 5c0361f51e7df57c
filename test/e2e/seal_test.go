package e2e

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/inmem"
)

func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestInitUnsealSeal(t *testing.T) {
	t.Parallel()
	s := startSealed(t, inmem.New())
	h, err := s.client.Sys().Health()
	if err != nil || h.Initialized {
		t.Fatalf("health before init: %+v %v", h, err)
	}
	st, err := s.client.Sys().SealStatus()
	if err != nil || st.Initialized || !st.Sealed || st.Type != "shamir" {
		t.Fatalf("seal status before init: %+v %v", st, err)
	}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil || len(init.Keys) != 5 || len(init.KeysB64) != 5 || init.RootToken == "" {
		t.Fatalf("init: %+v %v", init, err)
	}
	if _, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("second init: %v", err)
	}
	s.keys, s.root = init.Keys, init.RootToken
	s.client.SetToken(s.root)
	if _, err := s.client.Logical().Read("sys/mounts"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("sealed read: %v", err)
	}
	s.unseal(t)
	st, err = s.client.Sys().SealStatus()
	if err != nil || st.Sealed || st.T != 3 || st.N != 5 || st.ClusterID == "" {
		t.Fatalf("seal status after unseal: %+v %v", st, err)
	}
	if _, err := s.client.Logical().Read("sys/mounts"); err != nil {
		t.Fatalf("read after unseal: %v", err)
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatalf("seal: %v", err)
	}
	if _, err := s.client.Logical().Read("sys/mounts"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("read after seal: %v", err)
	}
	h, err = s.client.Sys().Health()
	if err != nil || !h.Sealed || !h.Initialized {
		t.Fatalf("health sealed: %+v %v", h, err)
	}
	s.unseal(t)
	if _, err := s.client.Logical().Read("sys/mounts"); err != nil {
		t.Fatalf("the root token must survive a seal: %v", err)
	}
}

func TestUnsealWrongShares(t *testing.T) {
	t.Parallel()
	s := startSealed(t, inmem.New())
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Sys().Unseal("zz-not-a-key"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("garbage share: %v", err)
	}
	other := startSealed(t, inmem.New())
	oinit, err := other.client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Shares of another server combine to a key that does not open this one.
	if _, err := s.client.Sys().Unseal(oinit.Keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Sys().Unseal(oinit.Keys[1]); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("foreign shares: %v", err)
	}
	st, _ := s.client.Sys().SealStatus()
	if !st.Sealed || st.Progress != 0 {
		t.Fatalf("after a failed unseal: %+v", st)
	}
	for _, k := range init.Keys[:2] {
		if _, err := s.client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.client.Sys().SealStatus(); st.Sealed {
		t.Fatal("still sealed with the right shares")
	}
}

func TestHealthCodes(t *testing.T) {
	t.Parallel()
	s := startSealed(t, inmem.New())
	cases := map[string]struct {
		query string
		want  int
	}{
		"uninit":          {"", http.StatusNotImplemented},
		"uninit override": {"?uninitcode=200", http.StatusOK},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Get(s.url + "/v1/sys/health" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  int
	}{{"", 503}, {"?sealedcode=299", 299}} {
		resp, err := http.Get(s.url + "/v1/sys/health" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("sealed %q: status %d", c.query, resp.StatusCode)
		}
	}
	if _, err := s.client.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.url + "/v1/sys/health?activecode=204")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("active override: %d", resp.StatusCode)
	}
}

// TestHealthCodeOutOfRange: a status override net/http cannot write (it
// panics below 100 or above 999) gets a 400 naming the parameter, sealed
// or not, instead of a dropped connection and a stack trace in the log.
func TestHealthCodeOutOfRange(t *testing.T) {
	s := startSealed(t, inmem.New())
	for _, q := range []string{"activecode=5", "standbycode=1000", "sealedcode=-3", "uninitcode=99", "activecode=600"} {
		resp, err := http.Get(s.url + "/v1/sys/health?" + q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := strings.SplitN(q, "=", 2)[0]
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), name+" must be an HTTP status code") {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}
