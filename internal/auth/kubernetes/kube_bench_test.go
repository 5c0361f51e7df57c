package kubernetes_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/test/kubetest"
)

// benchClients is how many clients log in at once.
const benchClients = 16

// BenchmarkKubeLogin measures kubernetes logins over HTTP (16 keep-alive
// clients, an in-memory server, batch tokens so that issuing the token
// stays small) in offline JWKS mode and in TokenReview mode, and a bare
// TokenReview loop (the same 16 clients POSTing TokenReviews straight to
// the same API server with the reviewer's token), which bounds TokenReview
// mode. Each reports logins/s and the p99 latency; run with -count to
// interleave the three in rounds:
//
//	go test ./internal/auth/kubernetes -run XXX -bench KubeLogin -benchtime 4000x -count 3
func BenchmarkKubeLogin(b *testing.B) {
	kc := kubetest.Shared(b)
	ns := kc.NewNamespace(b, nil)
	kc.CreateServiceAccount(b, ns, "reviewer")
	kc.GrantAuthDelegator(b, ns, "reviewer")
	kc.CreateServiceAccount(b, ns, "app")
	kc.AllowAnonymousDiscovery(b)
	reviewer := kc.Token(b, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})
	jwt := kc.Token(b, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}, Expiration: 2 * time.Hour})
	s := startServer(b)
	for path, offline := range map[string]bool{"k8s-offline": true, "k8s-review": false} {
		if err := s.client.Sys().EnableAuthWithOptions(path, &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
			b.Fatal(err)
		}
		cfg := map[string]any{"kubernetes_host": kc.URL, "kubernetes_ca_cert": string(kc.CAPEM),
			"token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true}
		if offline {
			cfg["oidc_discovery_url"] = kc.Issuer
		}
		s.write(b, "auth/"+path+"/config", cfg)
		s.write(b, "auth/"+path+"/role/app", map[string]any{"bound_service_account_names": "app",
			"bound_service_account_namespaces": ns, "audience": "coffer", "token_policies": "reader", "token_type": "batch"})
	}
	login, _ := json.Marshal(map[string]string{"role": "app", "jwt": jwt})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchClients}}
	for _, path := range []string{"k8s-offline", "k8s-review"} {
		b.Run(map[string]string{"k8s-offline": "offline", "k8s-review": "tokenreview"}[path], func(b *testing.B) {
			runClients(b, func() error { return post(hc, s.url+"/v1/auth/"+path+"/login", "", login, http.StatusOK) })
		})
	}
	b.Run("bare-tokenreview", func(b *testing.B) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(kc.CAPEM)
		kube := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchClients,
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		review, _ := json.Marshal(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
			"spec": map[string]any{"token": jwt, "audiences": []string{"coffer"}}})
		runClients(b, func() error {
			return post(kube, kc.URL+"/apis/authentication.k8s.io/v1/tokenreviews", reviewer, review, http.StatusCreated)
		})
	})
}

// processCPU is the CPU time (user + system) of this process, which holds
// the clients and the Coffer server but not the API server.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// post sends body and fails unless the status is want.
func post(hc *http.Client, url, bearer string, body []byte, want int) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// runClients runs op b.N times from benchClients goroutines and reports
// throughput and the 99th percentile latency.
func runClients(b *testing.B, op func() error) {
	for range benchClients { // warm the connections and caches
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for w := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(len(all)), "cpu-µs/op")
}

// BenchmarkOfflineLoginHTTP is BenchmarkKubeLogin/offline with a jwttest
// issuer in place of the API server's discovery document and JWKS (the
// check is the same: RS256 against cached keys), for machines without the
// kube binaries: 16 clients over HTTP, batch tokens, in-memory storage.
//
//	go test ./internal/auth/kubernetes -run XXX -bench OfflineLoginHTTP -benchtime 4000x -count 3
func BenchmarkOfflineLoginHTTP(b *testing.B) {
	iss := jwttest.New(b)
	s := startServer(b)
	if err := s.client.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		b.Fatal(err)
	}
	s.write(b, "auth/kubernetes/config", map[string]any{"kubernetes_host": iss.URL, "oidc_discovery_url": iss.URL,
		"oidc_discovery_ca_pem": iss.CAPEM, "disable_local_ca_jwt": true})
	s.write(b, "auth/kubernetes/role/app", map[string]any{"bound_service_account_names": "app",
		"bound_service_account_namespaces": "team-a", "audience": "coffer", "token_policies": "reader", "token_type": "batch"})
	c := iss.Claims("system:serviceaccount:team-a:app", "coffer")
	c["exp"] = time.Now().Add(2 * time.Hour).Unix()
	c["kubernetes.io"] = map[string]any{"namespace": "team-a", "serviceaccount": map[string]any{"name": "app", "uid": "u-1"}}
	login, _ := json.Marshal(map[string]string{"role": "app", "jwt": iss.Sign(b, c)})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchClients}}
	runClients(b, func() error { return post(hc, s.url+"/v1/auth/kubernetes/login", "", login, http.StatusOK) })
}
