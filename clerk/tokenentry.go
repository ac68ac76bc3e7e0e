package clerk

import (
	"encoding/binary"
	"math"
)

// A token-cache entry is the verified token's header and claims encoded as
// bytes, which the cache keeps in its shard's arena (tokencache.go); a hit
// copies them out into one string and decodes it into a fresh JWT.
//
// Why not keep the decoded *JWT: the collector marks every pointer of
// every cached object on every cycle, and a decoded token holds about 30
// (its strings, its pointer fields, the memoized organization), scattered
// over the heap. With a full cache (10,000 tokens), marking them took ~8 ms
// of CPU per cycle and cost every request ~9% of throughput, whatever the
// request carried. Encoded entries in an arena hold no pointer at all.
// Copying and decoding one on a hit costs ~0.3 µs and two allocations; the
// cache keeps each shard's last hit decoded (tokenShard.hot), so the same
// token repeated costs neither.
//
// The layout: flags (uint16), exp, nbf, iat (float64 bits), then the
// strings in a fixed order, each as a uvarint length and its bytes, and the
// two permission lists as a uvarint count plus one (0 for a nil list) and
// that many strings. Substrings of the entry share its bytes, so decoding
// copies no text.

// Which optional parts an entry holds.
const (
	entryTyp uint16 = 1 << iota
	entryCat
	entryExp
	entryNbf
	entryIat
	entryActor
	entryOrgClaim
	entryOrgPermissions // v1 org_permissions present (possibly empty)
	entryActiveOrg      // the memoized organization is not nil
	entryMemoized       // ActiveOrganization was computed without error
)

const entryFixedLen = 2 + 3*8

// encodeTokenEntry encodes a token that passed every check. The
// organization is memoized in the entry unless computing it failed (a
// malformed "fea", which then fails again on every use, as the SDK does).
func encodeTokenEntry(t *JWT) string {
	c := &t.Claims
	var flags uint16
	active, err := c.ActiveOrganization()
	if err == nil {
		flags |= entryMemoized
		if active != nil {
			flags |= entryActiveOrg
		}
	}
	var fixed [entryFixedLen]byte
	b := make([]byte, entryFixedLen, entryFixedLen+len(t.Header.Alg)+len(t.Header.Kid)+len(c.Issuer)+len(c.Subject)+
		len(c.SessionID)+len(c.AuthorizedParty)+len(c.Features)+256)
	put := func(strs ...string) {
		for _, s := range strs {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	list := func(l []string) {
		if l == nil {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(l))+1)
		for _, s := range l {
			put(s)
		}
	}
	opt := func(flag uint16, p *string) {
		if p != nil {
			flags |= flag
			put(*p)
		}
	}
	num := func(flag uint16, i int, p *float64) {
		if p != nil {
			flags |= flag
			binary.LittleEndian.PutUint64(fixed[2+8*i:], math.Float64bits(*p))
		}
	}
	put(t.Header.Alg, t.Header.Kid)
	opt(entryTyp, t.Header.Typ)
	opt(entryCat, t.Header.Cat)
	num(entryExp, 0, c.Expiry)
	num(entryNbf, 1, c.NotBefore)
	num(entryIat, 2, c.IssuedAt)
	put(c.Issuer, c.Subject, c.SessionID, c.AuthorizedParty, c.Status, c.Version, c.OrgID, c.OrgSlug, c.OrgRole, c.Features)
	if a := c.Actor; a != nil {
		flags |= entryActor
		put(a.Subject, a.Issuer, a.SessionID, a.Type)
	}
	if o := c.Org; o != nil {
		flags |= entryOrgClaim
		put(o.ID, o.Slug, o.Role, o.Permissions, o.FeaturePermissionMap)
	}
	if c.OrgPermissions != nil {
		flags |= entryOrgPermissions
		list(c.OrgPermissions)
	}
	if flags&entryActiveOrg != 0 {
		put(active.ID, active.Slug, active.Role)
		list(active.Permissions)
	}
	binary.LittleEndian.PutUint16(fixed[:], flags)
	copy(b, fixed[:])
	return string(b)
}

// decodedEntry is what a cache hit allocates: the JWT and everything its
// pointer fields refer to, with room for a few permissions. The rare actor
// (impersonation) and longer permission lists get their own allocations.
type decodedEntry struct {
	JWT
	store  tokenStore
	memo   activeOrgResult
	active ActiveOrganization
	perms  [4]string
}

// entryReader reads an entry's strings in order. Entries are written by
// encodeTokenEntry only, so a short read cannot happen; if it did, the
// reader yields empty strings rather than panicking, and the round-trip
// test would catch the mismatch.
type entryReader struct {
	s string
	i int
}

// uvarint reads a uvarint (binary.Uvarint on the string, without
// converting it to bytes).
func (r *entryReader) uvarint() uint64 {
	var x uint64
	for shift := 0; r.i < len(r.s) && shift < 64; shift += 7 {
		b := r.s[r.i]
		r.i++
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
	r.i = len(r.s)
	return 0
}

func (r *entryReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.i) {
		r.i = len(r.s)
		return ""
	}
	start := r.i
	r.i += int(n)
	return r.s[start:r.i]
}

// list reads a list into room when it fits (clipped: an append copies).
func (r *entryReader) list(room []string) []string {
	n := r.uvarint()
	if n == 0 || n-1 > uint64(len(r.s)-r.i) {
		return nil
	}
	var l []string
	if room != nil && n-1 <= uint64(len(room)) {
		l = room[: n-1 : n-1]
	} else {
		l = make([]string, n-1)
	}
	for i := range l {
		l[i] = r.str()
	}
	return l
}

// entryFloat reads the i-th of the fixed float64s.
func entryFloat(e string, i int) float64 {
	var u uint64
	for j := 7; j >= 0; j-- {
		u = u<<8 | uint64(e[2+8*i+j])
	}
	return math.Float64frombits(u)
}

// decodeTokenEntry rebuilds the cached JWT from e.
func decodeTokenEntry(e string) *JWT {
	if len(e) < entryFixedLen {
		return nil
	}
	flags := uint16(e[0]) | uint16(e[1])<<8
	d := new(decodedEntry)
	t, c, st := &d.JWT, &d.Claims, &d.store
	float := func(flag uint16, i int, dst *float64, p **float64) {
		if flags&flag != 0 {
			*dst = entryFloat(e, i)
			*p = dst
		}
	}
	float(entryExp, 0, &st.exp, &c.Expiry)
	float(entryNbf, 1, &st.nbf, &c.NotBefore)
	float(entryIat, 2, &st.iat, &c.IssuedAt)
	r := entryReader{s: e, i: entryFixedLen}
	t.Header.Alg, t.Header.Kid = r.str(), r.str()
	if flags&entryTyp != 0 {
		st.typ = r.str()
		t.Header.Typ = &st.typ
	}
	if flags&entryCat != 0 {
		st.cat = r.str()
		t.Header.Cat = &st.cat
	}
	c.Issuer, c.Subject, c.SessionID, c.AuthorizedParty = r.str(), r.str(), r.str(), r.str()
	c.Status, c.Version, c.OrgID, c.OrgSlug, c.OrgRole, c.Features = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	if flags&entryActor != 0 {
		c.Actor = &Actor{Subject: r.str(), Issuer: r.str(), SessionID: r.str(), Type: r.str()}
	}
	if flags&entryOrgClaim != 0 {
		st.org = OrgClaim{ID: r.str(), Slug: r.str(), Role: r.str(), Permissions: r.str(), FeaturePermissionMap: r.str()}
		c.Org = &st.org
	}
	if flags&entryOrgPermissions != 0 {
		c.OrgPermissions = r.list(nil)
	}
	if flags&entryMemoized != 0 {
		if flags&entryActiveOrg != 0 {
			d.active = ActiveOrganization{ID: r.str(), Slug: r.str(), Role: r.str(), Permissions: r.list(d.perms[:])}
			d.memo.org = &d.active
		}
		c.activeOrg = &d.memo
	}
	return t
}

// entryExpiry is the exp of an entry (every cached token has one).
func entryExpiry(e string) float64 { return entryFloat(e, 0) }
