package csiprovider_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
)

// The login in these tests goes through the jwt auth method mounted at
// auth/k8s-jwt with a locally signed service-account-shaped token, standing
// in for the kubernetes method (see kube_test.go for the real API server).
func kvParams(c *coffer, objects string) map[string]string {
	return map[string]string{"roleName": "app", "cofferAddress": c.URL, "authMountPath": "k8s-jwt", "audience": "coffer", "objects": objects}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{Version: "1.2.3"}))
	v, err := cl.Version(context.Background(), &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil || v.GetRuntimeName() != "coffer" || v.GetVersion() != "v1alpha1" || v.GetRuntimeVersion() != "1.2.3" {
		t.Fatalf("Version = %v, %v", v, err)
	}
}

// TestMountKV mounts KV v2 objects in the ways a SecretProviderClass can
// ask for them, through the driver's gRPC client on a unix socket.
func TestMountKV(t *testing.T) {
	t.Parallel()
	c := startCoffer(t, false)
	c.putKV(t, "app/db", map[string]any{"password": "v1-pass", "user": "app"})
	c.putKV(t, "app/db", map[string]any{"password": "v2-pass", "user": "app"})
	c.putKV(t, "app/blob", map[string]any{"b64": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}), "hex": hex.EncodeToString([]byte("hexed")), "n": 42})
	hmacKey := []byte("test-hmac-key")
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{HMACKey: hmacKey}))
	objects := `
- objectName: password
  secretPath: secret/data/app/db
  secretKey: password
- objectName: password-v1
  secretPath: /secret/data/app/db/
  secretKey: password
  objectVersion: "1"
  filePermission: "0600"
- objectName: whole
  objectAlias: conf/db.json
  secretPath: secret/data/app/db
- objectName: raw
  secretPath: secret/data/app/blob
  secretKey: b64
  encoding: base64
  filePermission: 0640
- objectName: hexed
  secretPath: secret/data/app/blob
  secretKey: hex
  encoding: hex
- objectName: number
  secretPath: secret/data/app/blob
  secretKey: n
`
	tok := c.saToken(t, "system:serviceaccount:team-a:app", "coffer")
	req := &v1alpha1.MountRequest{Attributes: attrs(t, kvParams(c, objects), map[string]string{"coffer": tok, "other": "x"}), Secrets: "{}", TargetPath: "/ignored", Permission: "420"}
	r, err := cl.Mount(context.Background(), req)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	got := files(t, r)
	var whole map[string]any
	must(t, json.Unmarshal([]byte(got["conf/db.json"]), &whole))
	want := map[string]string{"password": "v2-pass", "password-v1": "v1-pass", "raw": "\x00\x01\x02\xff", "hexed": "hexed", "number": "42"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("file %s = %q, want %q", k, got[k], v)
		}
	}
	if whole["password"] != "v2-pass" || whole["user"] != "app" || len(whole) != 2 {
		t.Errorf("whole secret = %v", whole)
	}
	modes := map[string]int32{}
	for _, f := range r.GetFiles() {
		modes[f.GetPath()] = f.GetMode()
	}
	if modes["password"] != 0o644 || modes["password-v1"] != 0o600 || modes["raw"] != 0o640 {
		t.Errorf("modes = %v", modes)
	}
	// Versions: an HMAC of the content, never the content; equal content
	// in another Mount gives the same version, a change a new one.
	v1 := versions(r)
	for id, v := range v1 {
		m := hmac.New(sha256.New, hmacKey)
		m.Write([]byte(id + "\x00" + got[id]))
		if v != hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("version of %s = %q, want the HMAC of its name and content", id, v)
		}
	}
	if v1["password"] == v1["password-v1"] {
		t.Error("different contents got one version")
	}
	r2, err := cl.Mount(context.Background(), req)
	must(t, err)
	if versions(r2)["password"] != v1["password"] {
		t.Error("the same content got a new version")
	}
	c.putKV(t, "app/db", map[string]any{"password": "v3-pass", "user": "app"})
	r3, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: req.Attributes, Permission: "420", CurrentObjectVersion: current(r2)})
	must(t, err)
	if v3 := versions(r3); v3["password"] == v1["password"] || v3["password-v1"] != v1["password-v1"] || files(t, r3)["password"] != "v3-pass" {
		t.Errorf("after a KV write: versions %v → %v", v1, v3)
	}
}

// TestMountAzureShape: Azure's objects shape ("array:" of YAML texts) with
// its keys (objectName, objectType, objectVersion, objectAlias,
// objectEncoding) means the same here.
func TestMountAzureShape(t *testing.T) {
	t.Parallel()
	c := startCoffer(t, false)
	c.putKV(t, "app/api", map[string]any{"value": "s3cret"})
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{}))
	objects := `array:
  - |
    objectName: api-key
    secretPath: secret/data/app/api
    secretKey: value
    objectType: secret
    objectVersion: ""
  - |
    objectName: api-key-again
    objectAlias: alias.txt
    secretPath: secret/data/app/api
    secretKey: value
    objectEncoding: utf-8
`
	r, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs(t, kvParams(c, objects), map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:app", "coffer")}), Permission: "420"})
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, r); got["api-key"] != "s3cret" || got["alias.txt"] != "s3cret" || len(got) != 2 {
		t.Fatalf("files = %v", got)
	}
}

// TestMountTLS reaches Coffer over HTTPS with cofferCACertPath and
// cofferTLSServerName, and is refused without the CA.
func TestMountTLS(t *testing.T) {
	t.Parallel()
	c := startCoffer(t, true)
	c.putKV(t, "app/tls", map[string]any{"k": "over-tls"})
	ca := writeCA(t, c)
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{}))
	objects := "- {objectName: k, secretPath: secret/data/app/tls, secretKey: k}"
	tok := map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:app", "coffer")}
	p := kvParams(c, objects)
	p["cofferCACertPath"], p["cofferTLSServerName"] = ca, "example.com"
	r, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs(t, p, tok), Permission: "420"})
	if err != nil || files(t, r)["k"] != "over-tls" {
		t.Fatalf("Mount over TLS: %v %v", r, err)
	}
	p2 := kvParams(c, objects)
	_, err = cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs(t, p2, tok), Permission: "420"})
	if csiprovider.CodeOf(err) != csiprovider.CodeServerUnreachable || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}
}
