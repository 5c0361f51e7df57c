package roottoken

import "errors"

// Errors from Encode and Decode. Their messages never quote the input.
var (
	// ErrLength means the token and the OTP differ in length.
	ErrLength = errors.New("the OTP and the token must have the same length")
	// ErrEmpty means the token, the OTP or the encoded value is empty.
	ErrEmpty = errors.New("the token, the OTP and the encoded value must not be empty")
	// ErrEncoding means the encoded value is not unpadded standard base64.
	ErrEncoding = errors.New("the encoded token is not valid base64")
)
