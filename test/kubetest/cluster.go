package kubetest

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// AdminUser is the user name of the static admin token; it is in the
// system:masters group, so RBAC allows it everything.
const AdminUser = "coffer-kubetest-admin"

// JWKSPath and DiscoveryPath are where kube-apiserver serves its service
// account signing keys and its OIDC discovery document.
const (
	JWKSPath      = "/openid/v1/jwks"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// Options configure a cluster. The zero value is a good default.
type Options struct {
	// Issuer is --service-account-issuer, the "iss" of every token. It
	// must be an https URL for the OIDC discovery endpoints to be served.
	// Empty means the API server's own URL, so the issuer is also where
	// its discovery document can be fetched.
	Issuer string
	// APIAudiences is --api-audiences, the audiences a TokenReview that
	// names none checks for. Empty means the issuer (the upstream
	// default).
	APIAudiences []string
	// ExtraAPIServerArgs are appended to kube-apiserver's command line
	// (a later flag overrides an earlier one).
	ExtraAPIServerArgs []string
	// StartTimeout bounds the wait for etcd and kube-apiserver to become
	// ready. Zero means 3 minutes (a loaded 2-core machine needs ~1).
	StartTimeout time.Duration
	// KeepDir keeps the cluster's directory (keys, logs, etcd data) after
	// Stop, for debugging.
	KeepDir bool
}

// Cluster is a running etcd and kube-apiserver pair on loopback. Its
// fields are set by Launch and must not be changed. Its methods are safe
// for concurrent use.
type Cluster struct {
	// URL is the API server's base URL, https://127.0.0.1:<port>.
	URL string
	// CAPEM is the PEM certificate of the CA that signed the API server's
	// serving certificate; CAFile holds the same.
	CAPEM  []byte
	CAFile string
	// AdminToken is a bearer token of a system:masters user (AdminUser);
	// AdminTokenFile holds the same. It is a secret: never log it.
	AdminToken     string
	AdminTokenFile string
	// Kubeconfig is a kubeconfig file for the admin user (for kubectl).
	Kubeconfig string
	// Issuer is the "iss" of the service-account tokens it issues.
	Issuer string
	// SigningKey is the service-account token signing key and
	// SigningKeyID the "kid" the API server puts in its tokens, so a test
	// can forge tokens (expired, wrong audience, …) that only the claims
	// checks can tell from real ones. PublicKeyPEM is its public key in
	// PEM, as pem_keys would take it.
	SigningKey   *rsa.PrivateKey
	SigningKeyID string
	PublicKeyPEM []byte
	// EtcdURL is etcd's client URL.
	EtcdURL string
	// Dir holds the keys, the logs (etcd.log, kube-apiserver.log) and
	// etcd's data; it is removed by Stop unless Options.KeepDir is set.
	Dir string
	// Config is a client-go configuration for the admin user and Client a
	// clientset built from it.
	Config *rest.Config
	Client kubernetes.Interface

	keepDir   bool
	etcd      *process
	apiserver *process
	stopOnce  sync.Once
	apply     applier
}

// Launch starts etcd and kube-apiserver from bins in a new temporary
// directory and returns when the API server is ready (all of /readyz,
// including the bootstrap RBAC roles). On error nothing is left running.
// Call Stop when done.
func Launch(ctx context.Context, bins Binaries, opts Options) (*Cluster, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c *Cluster
		var retry bool
		c, retry, err = launchOnce(ctx, bins, opts)
		if err == nil {
			return c, nil
		}
		if !retry {
			break
		}
	}
	return nil, err
}

// launchOnce makes one attempt; retry says the failure was a port taken
// by someone else between choosing and binding it.
func launchOnce(ctx context.Context, bins Binaries, opts Options) (c *Cluster, retry bool, err error) {
	dir, err := os.MkdirTemp("", "coffer-kube-")
	if err != nil {
		return nil, false, err
	}
	c = &Cluster{Dir: dir, keepDir: opts.KeepDir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	keys, err := newPKI()
	if err != nil {
		return c, false, fmt.Errorf("generate keys: %w", err)
	}
	if err := keys.write(dir); err != nil {
		return c, false, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return c, false, err
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	c.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.Issuer = opts.Issuer
	if c.Issuer == "" {
		c.Issuer = c.URL
	}
	c.CAPEM, c.CAFile = keys.caPEM, filepath.Join(dir, "ca.crt")
	c.AdminToken, c.AdminTokenFile = keys.adminToken, filepath.Join(dir, "admin.token")
	c.SigningKey, c.SigningKeyID, c.PublicKeyPEM = keys.saKey, keys.saKeyID, keys.saPublicPEM
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.kubeconfig(), 0o600); err != nil {
		return c, false, err
	}

	c.etcd, err = startProcess("etcd", bins.Etcd, etcdArgs(dir, ports[0], ports[1]), filepath.Join(dir, "etcd.log"))
	if err != nil {
		return c, false, err
	}
	if err := c.awaitReady(ctx, c.etcd, c.EtcdURL+"/health", nil, ""); err != nil {
		return c, c.etcd.portInUse(), err
	}
	c.apiserver, err = startProcess("kube-apiserver", bins.APIServer,
		c.apiserverArgs(ports[2], opts), filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return c, false, err
	}
	if err := c.awaitReady(ctx, c.apiserver, c.URL+"/readyz", c.tlsConfig(), c.AdminToken); err != nil {
		return c, c.apiserver.portInUse(), err
	}

	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     c.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, false, err
	}
	return c, false, nil
}

// etcdArgs runs a single-member etcd on loopback that skips fsync (its
// data lives only as long as the test).
func etcdArgs(dir string, clientPort, peerPort int) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	return []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// apiserverArgs is the smallest kube-apiserver that serves what auth tests
// need without a controller-manager: loopback only, RBAC, a static admin
// token, service-account tokens signed with the fresh key, and no
// reconciliation of the "kubernetes" Service's endpoints.
func (c *Cluster) apiserverArgs(port int, opts Options) []string {
	d := c.Dir
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + filepath.Join(d, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(d, "serving.key"),
		"--cert-dir=" + filepath.Join(d, "certs"),
		"--token-auth-file=" + filepath.Join(d, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + c.Issuer,
		"--service-account-key-file=" + filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(d, "sa.key"),
		"--service-account-jwks-uri=" + c.URL + JWKSPath,
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
	if len(opts.APIAudiences) > 0 {
		args = append(args, "--api-audiences="+strings.Join(opts.APIAudiences, ","))
	}
	return append(args, opts.ExtraAPIServerArgs...)
}

// awaitReady polls url until it answers 200, the process exits, or ctx ends.
func (c *Cluster) awaitReady(ctx context.Context, p *process, url string, tlsConf *tls.Config, token string) error {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true},
	}
	var last string
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%w: %s not ready at %s (last answer: %s): %v; last lines of %s:\n%s",
				ErrStart, p.name, url, last, ctx.Err(), p.logPath, p.logTail(30))
		case <-time.After(delay):
		}
	}
}

// Stop ends kube-apiserver, then etcd, and removes the directory unless
// it is kept. It waits for both processes to exit and is safe to call
// more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		if c.apiserver != nil {
			c.apiserver.stop(10 * time.Second)
		}
		if c.etcd != nil {
			c.etcd.stop(10 * time.Second)
		}
		if !c.keepDir && c.Dir != "" {
			_ = os.RemoveAll(c.Dir)
		}
	})
}

// tlsConfig trusts only the cluster's CA.
func (c *Cluster) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// HTTPClient returns a client that trusts the cluster's CA and sends no
// credentials, as an OIDC relying party or an anonymous caller would.
func (c *Cluster) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: c.tlsConfig()},
	}
}

// kubeconfig renders a kubeconfig for the admin user; it names the token
// file rather than holding the token.
func (c *Cluster) kubeconfig() []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    tokenFile: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: admin
current-context: kubetest
`, c.URL, c.CAFile, c.AdminTokenFile)
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// free when returned, not reserved: Launch retries if one is taken.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
