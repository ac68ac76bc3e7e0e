package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Accepts is the credential types a route accepts: @clerk/backend's
// acceptsToken option. The SDK treats its three forms differently, so
// Accepts keeps them apart: one type (a string in the SDK; the zero
// Accepts is session_token), several (an array), or any.
type Accepts struct {
	types []clerk.TokenType
	any   bool
}

// acceptsAnyWord is the value of token= that accepts every type.
const acceptsAnyWord = "any"

var tokenTypes = []clerk.TokenType{clerk.TokenTypeSession, clerk.TokenTypeAPIKey, clerk.TokenTypeM2M, clerk.TokenTypeOAuth}

// add reads one value of token= (or the policy file's token:).
func (a *Accepts) add(v string) error {
	if v == acceptsAnyWord {
		if a.any || len(a.types) > 0 {
			return fmt.Errorf("token=any cannot be combined with other token types")
		}
		a.any = true
		return nil
	}
	t := clerk.TokenType(v)
	if !slices.Contains(tokenTypes, t) {
		return fmt.Errorf("token %q is not a Clerk token type (session_token, api_key, m2m_token, oauth_token or any)", v)
	}
	if a.any {
		return fmt.Errorf("token=any cannot be combined with other token types")
	}
	if !slices.Contains(a.types, t) {
		a.types = append(a.types, t)
	}
	return nil
}

// single returns the one accepted type when the route names exactly one
// (the SDK's string form; session_token when the route names none).
func (a *Accepts) single() (clerk.TokenType, bool) {
	switch {
	case a.any || len(a.types) > 1:
		return "", false
	case len(a.types) == 1:
		return a.types[0], true
	}
	return clerk.TokenTypeSession, true
}

// accepts reports whether a credential of type t may pass.
func (a *Accepts) accepts(t clerk.TokenType) bool {
	if a.any {
		return true
	}
	if len(a.types) == 0 {
		return t == clerk.TokenTypeSession
	}
	return slices.Contains(a.types, t)
}

// acceptsMachines reports whether any machine type may pass.
func (a *Accepts) acceptsMachines() bool {
	return a.accepts(clerk.TokenTypeAPIKey) || a.accepts(clerk.TokenTypeM2M) || a.accepts(clerk.TokenTypeOAuth)
}

// String is the route's token= value, for logs and errors.
func (a *Accepts) String() string {
	if a.any {
		return acceptsAnyWord
	}
	if len(a.types) == 0 {
		return string(clerk.TokenTypeSession)
	}
	s := make([]string, len(a.types))
	for i, t := range a.types {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}
