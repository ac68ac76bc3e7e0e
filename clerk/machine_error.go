package clerk

import (
	"errors"
	"net/http"
	"strconv"
)

// MachineError is a machine token that did not verify, as the SDK's
// MachineTokenVerificationError: Reason is its code (token-invalid,
// token-verification-failed, secret-key-invalid, unexpected-error, or
// token-type-mismatch for a token of no machine type), Status the Backend
// API's answer (0 when there was none). Err is the cause: the *APIError,
// the network error, or the *TokenError of local verification or of the
// key source. Error never includes the token.
type MachineError struct {
	Type    TokenType
	Reason  Reason
	Message string
	Status  int
	Err     error
}

func (e *MachineError) Error() string {
	s := string(e.Reason)
	if e.Type != "" {
		s = string(e.Type) + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status != 0 {
		s += " (status " + strconv.Itoa(e.Status) + ")"
	}
	var te *TokenError
	if e.Err != nil && !errors.As(e.Err, &te) {
		// A token error's message is Message already; any other cause
		// (an *APIError with its trace id, a network error) is news.
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so that errors.As finds an *APIError (and a
// 429's RetryAfter) or a *TokenError.
func (e *MachineError) Unwrap() error { return e.Err }

// Temporary reports an error that says nothing about the token: the
// Backend API answered 429 or 5xx, did not answer (network, timeout), or
// the signing keys could not be had (IsKeyUnavailable). The caller should
// serve an answer it cached or fail closed with 503, not refuse the token.
// A definitive answer (401, 404, any other 4xx, a bad JWT, a 2xx that
// does not decode) is not temporary.
func (e *MachineError) Temporary() bool {
	if e.Err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(e.Err, &apiErr) {
		return apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	}
	var te *TokenError
	if errors.As(e.Err, &te) {
		return IsKeyUnavailable(te)
	}
	// Neither an answer nor a verdict: the call failed on the way, unless
	// the answer came and did not decode.
	return !errors.Is(e.Err, errDecode)
}

// tokenErrorMessage is err's message without its reason, as the SDK
// copies a verification error's message into a machine error.
func tokenErrorMessage(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Message
	}
	return err.Error()
}
