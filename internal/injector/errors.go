package injector

import "errors"

// ErrBadAnnotation marks a pod whose coffer.io/ (or vault.hashicorp.com/)
// annotations cannot be turned into agent containers; the admission is
// denied with the error's message, which names the annotation at fault.
var ErrBadAnnotation = errors.New("invalid injector annotation")

// ErrBadReview marks an AdmissionReview the webhook cannot read: not JSON,
// not admission.k8s.io/v1, no request, or not a pod.
var ErrBadReview = errors.New("invalid admission review")
