package examples

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/injector"
)

// TestExamplesOffline checks what can be checked without a cluster or a
// database, so a broken example fails even where TestExamples skips: the
// injector accepts the injector example's pod template, and the CSI
// provider accepts the SecretProviderClass's parameters (its Mount gets as
// far as calling the server, which does not answer).
func TestExamplesOffline(t *testing.T) {
	t.Run("injector annotations", func(t *testing.T) {
		dep := typed[appsv1.Deployment](t, find(t, load(t, "../../examples/injector-postgres.yaml"), "Deployment"))
		inj, err := injector.New(injector.Config{AgentImage: "registry.example/coffer:test", Address: chartDevAddress})
		if err != nil {
			t.Fatal(err)
		}
		m, err := inj.Mutate(podFrom(dep, "web"))
		if err != nil || m.Patch == nil || len(m.Warnings) != 0 {
			t.Fatalf("Mutate = %+v, %v; want a patch and no warning", m, err)
		}
	})
	t.Run("SecretProviderClass parameters", func(t *testing.T) {
		spc := find(t, load(t, "../../examples/csi-postgres.yaml"), "SecretProviderClass")
		params, _, err := unstructured.NestedStringMap(spc.Object, "spec", "parameters")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		params["cofferAddress"] = "http://" + l.Addr().String()
		l.Close() // nothing answers there
		tokens, _ := json.Marshal(map[string]any{params["audience"]: map[string]string{
			"token": "not-checked-here", "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		}})
		params["csi.storage.k8s.io/pod.name"], params["csi.storage.k8s.io/pod.namespace"] = "web", "shop"
		params["csi.storage.k8s.io/pod.uid"], params["csi.storage.k8s.io/serviceAccount.name"] = "uid", "web"
		params["csi.storage.k8s.io/serviceAccount.tokens"] = string(tokens)
		attrs, _ := json.Marshal(params)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = csiprovider.New(csiprovider.Config{}).Mount(ctx, &v1alpha1.MountRequest{Attributes: string(attrs), Permission: "420"})
		if code := csiprovider.CodeOf(err); code != csiprovider.CodeServerUnreachable {
			t.Fatalf("Mount = %v (code %q), want %s: the parameters must parse", err, code, csiprovider.CodeServerUnreachable)
		}
	})
}
