package csiprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// TestMountReadBudget: a server that answers each of many objects with a
// large body (the cofferAddress of a SecretProviderClass can name any
// server) fails the mount once the answers pass maxMountBytes in all,
// rather than holding them all in the memory of the node-wide provider.
func TestMountReadBudget(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/login") {
			fmt.Fprint(w, `{"auth":{"client_token":"t","lease_duration":3600}}`)
			return
		}
		fmt.Fprintf(w, `{"data":{"v":%q}}`, big)
	}))
	t.Cleanup(srv.Close)
	var objs []string
	for i := range 48 {
		objs = append(objs, fmt.Sprintf("- {objectName: o%d, secretPath: secret/data/o%d, secretKey: v}", i, i))
	}
	attrs, _ := json.Marshal(map[string]string{
		"roleName": "app", "cofferAddress": srv.URL, "objects": strings.Join(objs, "\n"),
		attrSATokens: `{"coffer":{"token":"x.y.z"}}`,
	})
	p := New(Config{})
	_, err := p.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: string(attrs), Permission: "420"})
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("Mount of 48 MiB of answers: %v, want a refusal naming the limit", err)
	}
}
