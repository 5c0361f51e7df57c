package injector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func review(t testing.TB, op admissionv1.Operation, kind string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("0f1e2d3c"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Namespace: "shop", Operation: op, Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t testing.TB, h http.Handler, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionReview) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, rec.Body)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "0f1e2d3c" {
		t.Fatalf("response envelope = %+v", out)
	}
	return rec, &out
}

func TestHandlerPatchesPod(t *testing.T) {
	t.Parallel()
	h := NewHandler(testInjector(t), nil)
	pod := testPod(cofferAnnotations())
	_, out := post(t, h, review(t, admissionv1.Create, "Pod", pod))
	r := out.Response
	if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || len(r.Patch) == 0 {
		t.Fatalf("response = %+v", r)
	}
	got := applyPatch(t, pod, r.Patch)
	if i, _ := findContainer(got.Spec.Containers, SidecarContainerName); i < 0 {
		t.Error("patch adds no sidecar")
	}
}

func TestHandlerDecisions(t *testing.T) {
	t.Parallel()
	h := NewHandler(testInjector(t), nil)
	bad := cofferAnnotations()
	bad["coffer.io/agent-inject-template-nosuch"] = "x"
	cases := map[string]struct {
		body    []byte
		allowed bool
		code    int32
		msg     string
	}{
		"not annotated": {body: review(t, admissionv1.Create, "Pod", testPod(nil)), allowed: true},
		"bad annotation": {body: review(t, admissionv1.Create, "Pod", testPod(bad)), code: 400,
			msg: "coffer injector: coffer.io/agent-inject-template-nosuch names no secret: add coffer.io/agent-inject-secret-nosuch with the secret's path"},
		"update is not ours": {body: review(t, admissionv1.Update, "Pod", testPod(cofferAnnotations())), allowed: true},
		"not a pod":          {body: review(t, admissionv1.Create, "ConfigMap", &corev1.ConfigMap{}), allowed: true},
		"object not a pod":   {body: review(t, admissionv1.Create, "Pod", "a string"), code: 400, msg: "not valid JSON"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, out := post(t, h, tc.body)
			r := out.Response
			if r.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", r.Allowed, tc.allowed, r.Result)
			}
			if tc.allowed {
				if r.Patch != nil || r.Result != nil {
					t.Errorf("patch %s result %+v, want neither", r.Patch, r.Result)
				}
				return
			}
			if r.Patch != nil || r.Result == nil || r.Result.Code != tc.code || !strings.Contains(r.Result.Message, tc.msg) {
				t.Errorf("result = %+v, want code %d with %q", r.Result, tc.code, tc.msg)
			}
		})
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := NewHandler(testInjector(t), nil)
	cases := map[string]struct {
		method, path, ctype, body string
		code                      int
	}{
		"GET":            {http.MethodGet, MutatePath, "application/json", "", http.StatusMethodNotAllowed},
		"not JSON":       {http.MethodPost, MutatePath, "application/json", "{", http.StatusBadRequest},
		"wrong type":     {http.MethodPost, MutatePath, "text/plain", "{}", http.StatusBadRequest},
		"v1beta1":        {http.MethodPost, MutatePath, "application/json", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}`, http.StatusBadRequest},
		"no request":     {http.MethodPost, MutatePath, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		"too large":      {http.MethodPost, MutatePath, "application/json", `{"a":"` + strings.Repeat("x", maxReviewSize) + `"}`, http.StatusBadRequest},
		"unknown path":   {http.MethodPost, "/nope", "application/json", "{}", http.StatusNotFound},
		"health is fine": {http.MethodGet, HealthPath, "", "", http.StatusOK},
	}
	for name, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s: status %d, want %d (%s)", name, rec.Code, tc.code, rec.Body)
		}
	}
}

func TestWebhookConfiguration(t *testing.T) {
	t.Parallel()
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	wh, err := WebhookConfiguration(WebhookOptions{ServiceNamespace: "coffer", ServiceName: "injector", CABundle: ca, FailurePolicy: "Fail"})
	if err != nil {
		t.Fatal(err)
	}
	w := wh.Webhooks[0]
	if *w.FailurePolicy != admissionregistrationv1.Fail || *w.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		w.ClientConfig.Service == nil || *w.ClientConfig.Service.Path != MutatePath || *w.ClientConfig.Service.Port != 443 ||
		len(w.AdmissionReviewVersions) != 1 || w.AdmissionReviewVersions[0] != "v1" {
		t.Errorf("webhook = %+v", w)
	}
	if ex := w.NamespaceSelector.MatchExpressions[0].Values; strings.Join(ex, ",") != "kube-system,kube-public,coffer" {
		t.Errorf("excluded namespaces = %v", ex)
	}
	if r := w.Rules[0]; r.Operations[0] != admissionregistrationv1.Create || r.Resources[0] != "pods" {
		t.Errorf("rules = %+v", r)
	}
	wh, err = WebhookConfiguration(WebhookOptions{URL: "https://127.0.0.1:9443/mutate", CABundle: ca})
	if err != nil || *wh.Webhooks[0].FailurePolicy != admissionregistrationv1.Ignore || *wh.Webhooks[0].ClientConfig.URL != "https://127.0.0.1:9443/mutate" {
		t.Errorf("URL webhook = %+v, %v", wh, err)
	}
	bad := map[string]WebhookOptions{
		"no CA":           {URL: "https://x/mutate"},
		"policy":          {URL: "https://x/mutate", CABundle: ca, FailurePolicy: "Sometimes"},
		"http":            {URL: "http://x/mutate", CABundle: ca},
		"nowhere":         {CABundle: ca},
		"url and service": {URL: "https://x/mutate", ServiceNamespace: "a", ServiceName: "b", CABundle: ca},
	}
	for name, o := range bad {
		if _, err := WebhookConfiguration(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
