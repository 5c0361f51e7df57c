package k8sconnect

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// fakeAPI answers the requests reviewer and checkWorkload make, as a
// kube-apiserver would, from objects keyed by URL path; a POST of an
// existing path answers 409 AlreadyExists. It records the bodies posted.
type fakeAPI struct {
	mu      sync.Mutex
	objects map[string]string
	posted  map[string]map[string]any
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	status := func(code int, reason string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
	}
	switch r.Method {
	case http.MethodGet:
		if obj, ok := f.objects[r.URL.Path]; ok {
			_, _ = io.WriteString(w, obj)
			return
		}
		status(http.StatusNotFound, "NotFound")
	case http.MethodPost:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			status(http.StatusBadRequest, "BadRequest")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/token") {
			f.posted[r.URL.Path] = body
			_, _ = io.WriteString(w, `{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","status":{"token":"reviewer-jwt"}}`)
			return
		}
		name, _ := body["metadata"].(map[string]any)["name"].(string)
		path := r.URL.Path + "/" + name
		if _, ok := f.objects[path]; ok {
			status(http.StatusConflict, "AlreadyExists")
			return
		}
		f.posted[path] = body
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(body)
	default:
		status(http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
}

const (
	rolePath    = "/apis/rbac.authorization.k8s.io/v1/clusterroles/" + ReviewerRole
	bindingPath = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/" + ReviewerRole + "-ns.rev"
)

func fakeCluster(t *testing.T, objects map[string]string) (*Cluster, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{objects: objects, posted: map[string]map[string]any{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	client, err := dynamic.NewForConfig(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{Client: client, Host: ts.URL, Context: "fake"}, f
}

// TestReviewerObjects: on an empty cluster reviewer creates the service
// account, the role and the binding with exactly the fields the API
// server's objects need, and requests a token of the given lifetime.
func TestReviewerObjects(t *testing.T) {
	kube, f := fakeCluster(t, map[string]string{})
	jwt, err := kube.reviewer(context.Background(), "ns", "rev", 2*time.Hour)
	if err != nil || jwt != "reviewer-jwt" {
		t.Fatalf("reviewer = %q, %v", jwt, err)
	}
	want := map[string]string{
		"/api/v1/namespaces/ns/serviceaccounts/rev": `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"labels":{"app.kubernetes.io/managed-by":"coffer-k8s-connect"},"name":"rev"}}`,
		rolePath: `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"labels":{"app.kubernetes.io/managed-by":"coffer-k8s-connect"},"name":"coffer-token-reviewer"},` +
			`"rules":[{"apiGroups":["authentication.k8s.io"],"resources":["tokenreviews"],"verbs":["create"]}]}`,
		bindingPath: `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"labels":{"app.kubernetes.io/managed-by":"coffer-k8s-connect"},"name":"coffer-token-reviewer-ns.rev"},` +
			`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"coffer-token-reviewer"},"subjects":[{"kind":"ServiceAccount","name":"rev","namespace":"ns"}]}`,
		"/api/v1/namespaces/ns/serviceaccounts/rev/token": `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"name":"rev"},"spec":{"expirationSeconds":7200}}`,
	}
	for path, body := range want {
		got, err := json.Marshal(f.posted[path])
		if err != nil || string(got) != body {
			t.Errorf("POST %s:\n got %s\nwant %s", path, got, body)
		}
	}
}

// TestReviewerExisting: objects already there are kept when they grant
// what the reviewer needs and refused (ErrInput, nothing changed) when
// they grant something else.
func TestReviewerExisting(t *testing.T) {
	const (
		goodRole    = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"coffer-token-reviewer"},"rules":[{"verbs":["create"],"apiGroups":["authentication.k8s.io"],"resources":["tokenreviews"]}]}`
		goodBinding = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"coffer-token-reviewer-ns.rev"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"coffer-token-reviewer"},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"x"},{"kind":"ServiceAccount","name":"rev","namespace":"ns"}]}`
	)
	cases := map[string]struct {
		role, binding string
		wantErr       string
	}{
		"both fit":      {goodRole, goodBinding, ""},
		"wider role":    {strings.Replace(goodRole, `"create"`, `"create","get"`, 1), goodBinding, "exists with other rules"},
		"other account": {goodRole, strings.Replace(goodBinding, `"name":"rev"`, `"name":"other"`, 1), "does not bind ns/rev"},
		"other role":    {goodRole, strings.Replace(goodBinding, `"name":"coffer-token-reviewer"}`, `"name":"admin"}`, 1), "does not bind ns/rev"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			kube, f := fakeCluster(t, map[string]string{
				"/api/v1/namespaces/ns/serviceaccounts/rev": `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"rev"}}`,
				rolePath: tc.role, bindingPath: tc.binding,
			})
			jwt, err := kube.reviewer(context.Background(), "ns", "rev", time.Hour)
			if tc.wantErr == "" {
				if err != nil || jwt != "reviewer-jwt" {
					t.Fatalf("reviewer = %q, %v", jwt, err)
				}
				return
			}
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("reviewer: %v, want ErrInput with %q", err, tc.wantErr)
			}
			if len(f.posted) != 0 {
				t.Errorf("a refused reviewer still posted %v", f.posted)
			}
		})
	}
}

func TestCheckWorkload(t *testing.T) {
	kube, _ := fakeCluster(t, map[string]string{"/api/v1/namespaces/app": `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"app"}}`})
	if err := kube.checkWorkload(context.Background(), "app"); err != nil {
		t.Errorf("existing namespace: %v", err)
	}
	err := kube.checkWorkload(context.Background(), "typo")
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), `namespace "typo" does not exist in context "fake"`) {
		t.Errorf("missing namespace: %v", err)
	}
}
