package csiprovider

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Error codes of a failed Mount. The driver publishes Error.Code in its
// metrics; the same code starts the gRPC status message that kubelet shows
// in the pod's events, so a person can act on it.
const (
	CodeBadParameters     = "BadParameters"     // the SecretProviderClass or the driver's attributes are wrong
	CodeServerUnreachable = "ServerUnreachable" // no answer from the Coffer address (network, TLS, DNS)
	CodeSealed            = "ServerSealed"      // Coffer answered 503: sealed or not ready
	CodePermissionDenied  = "PermissionDenied"  // login refused, or the role's policies do not allow the path
	CodeObjectNotFound    = "ObjectNotFound"    // the path or the key within it does not exist
	CodeServerError       = "ServerError"       // any other answer Coffer gave (its message is included)
	CodeInternal          = "InternalError"     // a fault of the provider itself
)

// ErrMount is wrapped by every error Mount reports; errors.As to *MountError
// gives its code.
var ErrMount = errors.New("coffer csi-provider")

// MountError is a Mount failure: Code is one of the Code… constants and Msg
// says what to fix. Msg never holds secret material.
type MountError struct {
	Code string
	Msg  string
}

func (e *MountError) Error() string { return e.Code + ": " + e.Msg }

// Unwrap makes every MountError match ErrMount.
func (e *MountError) Unwrap() error { return ErrMount }

func mountErr(code, format string, args ...any) *MountError {
	return &MountError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func badParam(name, format string, args ...any) *MountError {
	return &MountError{Code: CodeBadParameters, Msg: fmt.Sprintf("parameter %q: ", name) + fmt.Sprintf(format, args...)}
}

var grpcCodes = map[string]codes.Code{
	CodeBadParameters:     codes.InvalidArgument,
	CodeServerUnreachable: codes.Unavailable,
	CodeSealed:            codes.Unavailable,
	CodePermissionDenied:  codes.PermissionDenied,
	CodeObjectNotFound:    codes.NotFound,
	CodeServerError:       codes.Unknown,
	CodeInternal:          codes.Internal,
}

// grpcError turns err into the gRPC status Mount returns: the gRPC code
// follows the Coffer code, the message is "<Code>: <what to fix>", and the
// status details carry the v1alpha1.Error with the code, for clients that
// read it.
func grpcError(err error) error {
	var me *MountError
	if !errors.As(err, &me) {
		me = &MountError{Code: CodeInternal, Msg: err.Error()}
	}
	st := status.New(grpcCodes[me.Code], me.Error())
	if withDetails, derr := st.WithDetails(&v1alpha1.Error{Code: me.Code}); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// CodeOf returns the Coffer error code carried by a gRPC error from Mount,
// or "" when it carries none.
func CodeOf(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if e, ok := d.(*v1alpha1.Error); ok {
			return e.GetCode()
		}
	}
	return ""
}
