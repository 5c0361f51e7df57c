package injector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MutatePath is where the webhook answers AdmissionReviews; HealthPath
// answers 200 for readiness and liveness probes.
const (
	MutatePath = "/mutate"
	HealthPath = "/healthz"
)

// maxReviewSize bounds an AdmissionReview body: the API server refuses
// objects over ~3 MiB, and a review holds the object once (twice for an
// update, which the webhook does not register for).
const maxReviewSize = 8 << 20

// Handler serves the webhook's HTTP routes. It is safe for concurrent use.
type Handler struct {
	inj *Injector
	log *slog.Logger
}

// NewHandler serves inj's mutations; log may be nil. The log names pods
// and decisions, never the agent configuration; a denial's reason, as the
// pod's creator sees it, quotes at most 64 characters of the annotation
// value it refuses (annotations hold secret paths and templates, not
// secrets).
func NewHandler(inj *Injector, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Handler{inj: inj, log: log}
}

// ServeHTTP routes MutatePath and HealthPath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case HealthPath:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	case MutatePath:
		h.mutate(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) mutate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	review, err := readReview(w, r)
	if err != nil {
		h.log.Warn("refused an admission review", "error", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := h.respond(review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	body, err := json.Marshal(out)
	if err != nil {
		http.Error(w, "encode the admission response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// readReview decodes an AdmissionReview v1 with a request.
func readReview(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("%w: Content-Type %q, want application/json", ErrBadReview, ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewSize))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", ErrBadReview, err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrBadReview, err)
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: %s %s, want admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1])",
			ErrBadReview, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, fmt.Errorf("%w: no request", ErrBadReview)
	}
	return &review, nil
}

// respond decides one admission request. It never panics: a panic in the
// mutation is turned into a denial, so the failure policy does not
// silently let a pod through without its secrets.
func (h *Handler) respond(req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse) {
	resp = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	who := req.Namespace + "/" + req.Name
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("injector panicked; pod denied", "pod", who, "panic", fmt.Sprint(p))
			resp = deny(req, http.StatusInternalServerError, "coffer injector: internal error; see the injector's log")
		}
	}()
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		return resp // not ours to change: allowed as is
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(req, http.StatusBadRequest, "coffer injector: the pod in the review is not valid JSON")
	}
	if who == req.Namespace+"/" {
		who = req.Namespace + "/" + pod.GenerateName + "*"
	}
	m, err := h.inj.Mutate(&pod)
	switch {
	case errors.Is(err, ErrBadAnnotation):
		h.log.Info("pod denied", "pod", who, "reason", err)
		return deny(req, http.StatusBadRequest, "coffer injector: "+strings.TrimPrefix(err.Error(), ErrBadAnnotation.Error()+": "))
	case err != nil:
		h.log.Error("injection failed; pod denied", "pod", who, "error", err)
		return deny(req, http.StatusInternalServerError, "coffer injector: internal error; see the injector's log")
	}
	resp.Warnings = m.Warnings
	if m.Patch != nil {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = m.Patch, &pt
		h.log.Info("agents injected", "pod", who)
	}
	return resp
}

func deny(req *admissionv1.AdmissionRequest, code int32, msg string) *admissionv1.AdmissionResponse {
	reason := metav1.StatusReasonBadRequest
	if code >= 500 {
		reason = metav1.StatusReasonInternalError
	}
	return &admissionv1.AdmissionResponse{
		UID: req.UID, Allowed: false,
		Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg},
	}
}
