package clerk

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Session is a session token that passed verification, reduced to what a
// decision reads. Verifier.Verify builds it; Verifier.Lookup returns the
// one built for the same token before. A Session is immutable once built
// and may be shared by every request presenting that token: callers must
// not modify it, nor append in place to Org.Permissions (the slice is
// clipped, so an append copies).
//
// To add a claim a decision needs: a field here, a line in newSession, and
// a line in walk (the cache's codec, below). Claims only verification
// reads stay in Claims.
type Session struct {
	Issuer          string
	Subject         string // the user id; never empty
	SessionID       string // never empty
	AuthorizedParty string
	Status          string // "sts": "pending" while the session has tasks
	ActorID         string // "act.sub" of an impersonated session, else ""

	// The times, in seconds since the epoch as in the token; re-checked
	// against the clock on every Verifier.Lookup. NotBefore and
	// IssuedAt count only when their Has flag is set: an absent claim and
	// a claim of 0 do not compare the same.
	Expiry       float64
	NotBefore    float64
	IssuedAt     float64
	HasNotBefore bool
	HasIssuedAt  bool

	// Org is the active organization (v1 or v2 claims), nil without one.
	// OrgError is set instead when the claims are malformed where the SDK
	// throws (a "fea" element without a colon): such a session must not
	// be authorized, whatever the rule.
	Org      *ActiveOrganization
	OrgError error

	// Features and Plans are the raw "fea" and "pla" claims, for feature
	// and plan rules (HasEntitlement).
	Features string
	Plans    string
	// FactorAge is "fva", for reverification rules (HasReverification).
	FactorAge FactorAge
}

// Pending reports a session with unfinished tasks (sts: pending). Clerk's
// SDK treats it as signed out for authorization.
func (s *Session) Pending() bool { return s.Status == "pending" }

// newSession builds the Session of verified claims; the active
// organization is computed here, once per token.
func newSession(c *Claims) *Session {
	s := &Session{
		Issuer:          c.Issuer,
		Subject:         c.Subject,
		SessionID:       c.SessionID,
		AuthorizedParty: c.AuthorizedParty,
		Status:          c.Status,
		Features:        c.Features,
		Plans:           c.Plans,
		FactorAge:       c.FactorAge,
	}
	if c.Actor != nil {
		s.ActorID = c.Actor.Subject
	}
	if c.Expiry != nil {
		s.Expiry = *c.Expiry
	}
	if c.NotBefore != nil {
		s.NotBefore, s.HasNotBefore = *c.NotBefore, true
	}
	if c.IssuedAt != nil {
		s.IssuedAt, s.HasIssuedAt = *c.IssuedAt, true
	}
	org, err := c.ActiveOrganization()
	if org != nil {
		org.Permissions = slices.Clip(org.Permissions)
	}
	s.Org, s.OrgError = org, err
	return s
}

// The token cache keeps sessions encoded as bytes in an arena with no
// pointers (tokencache.go says why). walk is the one description of that
// encoding: encoding and decoding both run it, field by field in the same
// order, so the two cannot drift apart. FuzzSessionCodecRoundTrip checks
// that decode(encode(s)) == s.
func (s *Session) walk(c *sessionCodec) {
	c.str(&s.Issuer)
	c.str(&s.Subject)
	c.str(&s.SessionID)
	c.str(&s.AuthorizedParty)
	c.str(&s.Status)
	c.str(&s.ActorID)
	c.float(&s.Expiry)
	c.float(&s.NotBefore)
	c.float(&s.IssuedAt)
	c.flag(&s.HasNotBefore)
	c.flag(&s.HasIssuedAt)
	c.err(&s.OrgError)
	c.str(&s.Features)
	c.str(&s.Plans)
	c.float(&s.FactorAge.First)
	c.float(&s.FactorAge.Second)
	c.flag(&s.FactorAge.Valid)
	if c.present(s.Org != nil) {
		if s.Org == nil {
			s.Org = c.newOrg()
		}
		c.str(&s.Org.ID)
		c.str(&s.Org.Slug)
		c.str(&s.Org.Role)
		c.strs(&s.Org.Permissions)
	}
}

// encodeSession encodes s for the token cache.
func encodeSession(s *Session) []byte {
	c := sessionCodec{out: make([]byte, 0, 256)}
	s.walk(&c)
	return c.out
}

// decodeSession decodes what encodeSession wrote. It returns nil for bytes
// encodeSession cannot have written (a short or inconsistent entry), so a
// corrupt entry is a cache miss, never a wrong session.
func decodeSession(b []byte) *decodedSession {
	d := new(decodedSession)
	c := sessionCodec{decoding: true, in: string(b), room: d}
	d.walk(&c)
	if c.bad || c.i != len(c.in) {
		return nil
	}
	return d
}

// decodedSession is one allocation for a decoded session, its organization
// and a few permissions (longer lists get their own), the cache key it was
// found under, and the token it was found for (in the recent table).
type decodedSession struct {
	Session
	org   ActiveOrganization
	perms [4]string
	key   tokenKey
	token string
}

// sessionCodec encodes (appending to out) or decodes (reading in, whose
// substrings the decoded strings share: one copy of the entry per decode).
// Strings are a uvarint length and the bytes; floats 8 bytes little-endian;
// flags one byte; lists a uvarint count and their strings.
type sessionCodec struct {
	decoding bool
	out      []byte
	in       string
	i        int
	bad      bool
	room     *decodedSession // decoding: where the organization goes
}

func (c *sessionCodec) newOrg() *ActiveOrganization {
	if c.room != nil {
		return &c.room.org
	}
	return new(ActiveOrganization)
}

func (c *sessionCodec) uvarint(v *uint64) {
	if !c.decoding {
		c.out = binary.AppendUvarint(c.out, *v)
		return
	}
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		if c.i >= len(c.in) {
			break
		}
		b := c.in[c.i]
		c.i++
		if b == 0 && shift > 0 || shift == 63 && b > 1 {
			break // not as AppendUvarint writes it: too long, or overflowing
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			*v = x
			return
		}
	}
	c.bad, c.i = true, len(c.in)
}

func (c *sessionCodec) str(s *string) {
	n := uint64(len(*s)) //nolint:gosec // a length is not negative
	c.uvarint(&n)
	if !c.decoding {
		c.out = append(c.out, *s...)
		return
	}
	if c.bad || n > uint64(len(c.in)-c.i) { //nolint:gosec // c.i never passes len(c.in)
		c.bad = true
		return
	}
	end := c.i + int(n) //nolint:gosec // n is at most len(c.in)-c.i, checked above
	*s = c.in[c.i:end]
	c.i = end
}

func (c *sessionCodec) float(f *float64) {
	if !c.decoding {
		c.out = binary.LittleEndian.AppendUint64(c.out, math.Float64bits(*f))
		return
	}
	if c.bad || len(c.in)-c.i < 8 {
		c.bad = true
		return
	}
	var u uint64
	for j := 7; j >= 0; j-- {
		u = u<<8 | uint64(c.in[c.i+j])
	}
	*f = math.Float64frombits(u)
	c.i += 8
}

func (c *sessionCodec) flag(b *bool) { *b = c.present(*b) }

// present writes or reads whether an optional part follows.
func (c *sessionCodec) present(p bool) bool {
	if !c.decoding {
		if p {
			c.out = append(c.out, 1)
		} else {
			c.out = append(c.out, 0)
		}
		return p
	}
	if c.bad || c.i >= len(c.in) || c.in[c.i] > 1 {
		c.bad = true
		return false
	}
	c.i++
	return c.in[c.i-1] == 1
}

// err keeps an error as its message: the only errors a Session holds are
// claim errors, whose message is all that is ever read.
func (c *sessionCodec) err(e *error) {
	if !c.present(*e != nil) {
		return
	}
	var msg string
	if *e != nil {
		msg = (*e).Error()
	}
	c.str(&msg)
	if c.decoding && !c.bad {
		*e = errors.New(msg)
	}
}

// strs keeps a list; nil and empty are the same to every reader of a
// session, and both decode as nil.
func (c *sessionCodec) strs(l *[]string) {
	n := uint64(len(*l)) //nolint:gosec // a length is not negative
	c.uvarint(&n)
	if c.decoding {
		if c.bad || n == 0 {
			return
		}
		if n > uint64(len(c.in)-c.i) { //nolint:gosec // each string takes a byte at least; c.i never passes len(c.in)
			c.bad = true
			return
		}
		if c.room != nil && n <= uint64(len(c.room.perms)) {
			*l = c.room.perms[:n:n]
		} else {
			*l = make([]string, n)
		}
	}
	for i := range *l {
		c.str(&(*l)[i])
	}
}
