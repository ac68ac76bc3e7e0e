package clerk

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Audience is a token's "aud" as @clerk/backend compares it
// (jwt/assertions.ts assertAudienceClaim): a string, or an array whose
// every element is a string. Any other value (a number, an array holding
// one) is nil: the SDK's check skips it rather than refusing the token.
type Audience []string

// UnmarshalJSON reads aud as the claims decoder does (for encoding/json
// users of Claims, and the decoder's differential test).
func (a *Audience) UnmarshalJSON(b []byte) error {
	*a = nil
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
	case len(b) > 0 && b[0] == '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		list := make(Audience, 0, len(raw))
		for _, e := range raw {
			if len(e) == 0 || e[0] != '"' {
				return nil // not every element a string: ignored
			}
			var s string
			if err := json.Unmarshal(e, &s); err != nil {
				return err
			}
			list = append(list, s)
		}
		*a = list
	}
	return nil
}

// audienceValue reads "aud" at the cursor, inside an object at depth.
func (r *jsonReader) audienceValue(depth int) (Audience, error) {
	switch r.peek() {
	case '"':
		s, err := r.str()
		return Audience{s}, err
	case '[':
	default:
		return nil, r.skip(depth)
	}
	r.i++
	list := Audience{}
	allStrings := true
	for first := true; ; first = false {
		more, err := r.nextElem(first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if r.peek() != '"' {
			allStrings = false
			if err := r.skip(depth + 1); err != nil {
				return nil, err
			}
			continue
		}
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		list = append(list, s)
	}
	if !allStrings {
		return nil, nil
	}
	return list, nil
}

// checkAudience is the SDK's assertAudienceClaim: only when both the
// expected list and the token's aud have a non-empty entry, one of the
// token's must be expected (token-verification-failed).
func checkAudience(aud Audience, want []string) error {
	if len(want) == 0 || !slices.ContainsFunc(aud, func(a string) bool { return a != "" }) {
		return nil
	}
	for _, a := range aud {
		if a != "" && slices.Contains(want, a) {
			return nil
		}
	}
	return tokenError(ReasonTokenVerificationFailed, "Invalid JWT audience claim (aud) "+quoteList(aud)+". Is not included in \""+quoteList(want)+"\".")
}

// checkIssuer is the SDK's assertIssuerClaim: with an expected list, iss
// must be one of it (token-invalid-issuer).
func checkIssuer(iss string, want []string) error {
	if len(want) == 0 || slices.Contains(want, iss) {
		return nil
	}
	return tokenError(ReasonTokenInvalidIssuer, "Invalid JWT issuer claim (iss) "+strconv.Quote(iss)+". Expected \""+strings.Join(want, ",")+"\".")
}

// checkOAuthAudience is the SDK's assertOAuthAudienceClaim, stricter than
// checkAudience: with an expected list, the token must name an audience,
// none of them empty, and one expected (token-verification-failed).
func checkOAuthAudience(aud Audience, want []string) error {
	if len(want) == 0 {
		return nil
	}
	if len(aud) == 0 || slices.Contains(aud, "") {
		return tokenError(ReasonTokenVerificationFailed, "Invalid OAuth audience claim (aud) "+quoteList(aud)+". Expected a non-empty string or a non-empty array of non-empty strings.")
	}
	for _, a := range aud {
		if slices.Contains(want, a) {
			return nil
		}
	}
	return tokenError(ReasonTokenVerificationFailed, "OAuth audience mismatch. Verification expected audience "+quoteList(want)+", but incoming token has aud "+quoteList(aud)+".")
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}
