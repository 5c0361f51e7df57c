package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServingCert makes a fresh CA and a certificate for 127.0.0.1 signed by
// it, for an admission webhook served on loopback that the API server
// calls through a url clientConfig. It writes the certificate and key to
// files in a temporary directory of the test and returns the CA's PEM (the
// webhook's caBundle) and the files' paths. Both last an hour.
func ServingCert(t testing.TB) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "coffer-kubetest-webhook-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "coffer-kubetest-webhook"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := errors.Join(
		os.WriteFile(certFile, pemBlock("CERTIFICATE", der), 0o600),
		os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600),
	); err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", caDER), certFile, keyFile
}

// OnlyNamespace is a namespaceSelector that matches the namespace ns
// alone, so that a webhook one test registers never sees the pods of
// tests sharing the cluster.
func OnlyNamespace(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
}

// CreateMutatingWebhook creates wh and deletes it when the test ends. The
// API server loads webhook configurations asynchronously: follow with
// AwaitMutation before relying on it.
func (c *Cluster) CreateMutatingWebhook(t testing.TB, wh *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	api := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(ctx, wh, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: create mutating webhook configuration %s: %v", wh.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_ = api.Delete(ctx, wh.Name, metav1.DeleteOptions{})
	})
}

// AwaitMutation waits until a dry-run creation of probe in ns (nothing is
// stored) comes back with mutated(pod) true, which shows the API server
// now calls a webhook just registered. It fails the test after a minute.
func (c *Cluster) AwaitMutation(t testing.TB, ns string, probe *corev1.Pod, mutated func(*corev1.Pod) bool) {
	t.Helper()
	c.poll(t, "a mutating webhook to be called for pods in "+ns, func(ctx context.Context) (bool, error) {
		pod, err := c.Client.CoreV1().Pods(ns).Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && mutated(pod), err
	})
}

// ServeWebhook runs serve on a fresh loopback listener with a ServingCert
// pair until the test ends (then cancels its context and fails the test
// if it returned an error), and returns the listener's host:port and the
// CA's PEM, for a url clientConfig of https://host:port/path.
func ServeWebhook(t testing.TB, serve func(ctx context.Context, l net.Listener, certFile, keyFile string) error) (addr string, caPEM []byte) {
	t.Helper()
	caPEM, certFile, keyFile := ServingCert(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, certFile, keyFile) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kubetest: webhook server: %v", err)
		}
	})
	return l.Addr().String(), caPEM
}
