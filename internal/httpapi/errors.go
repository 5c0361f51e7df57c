package httpapi

import (
	"errors"
	"net/http"

	"github.com/cofferhq/coffer/internal/logical"
)

// Errors the HTTP layer itself raises while decoding a request.
var (
	errBodyTooBig  = errors.New("request body too large")
	errBadJSON     = errors.New("failed to parse JSON input")
	errBadMethod   = errors.New("method not allowed")
	errContentType = errors.New("unsupported content type")
	errBodiesBusy  = errors.New("the server is busy reading other request bodies; retry shortly")
)

// statusFor is the one map from errors to HTTP status codes. Anything not
// recognised is an internal error.
func statusFor(err error) int {
	switch {
	case errors.Is(err, logical.ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, logical.ErrSealed), errors.Is(err, errBodiesBusy), errors.Is(err, logical.ErrStandby):
		return http.StatusServiceUnavailable
	case errors.Is(err, logical.ErrUnsupportedPath), errors.Is(err, logical.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, logical.ErrUnsupportedOperation), errors.Is(err, errBadMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, logical.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, logical.ErrUpstream):
		return http.StatusBadGateway
	case errors.Is(err, errBodyTooBig), errors.Is(err, logical.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrNotInitialized),
		errors.Is(err, logical.ErrCASMismatch), errors.Is(err, errBadJSON):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
