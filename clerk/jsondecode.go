package clerk

import (
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file decodes the two JSON objects of a session token, its header and
// its claims, in one pass and without reflection: encoding/json's
// reflection and allocations were a sizeable share of a never-seen
// token's CPU (BenchmarkDecodeJWT in bench/README.md). The reader accepts exactly RFC 8259 JSON and decodes it the way
// encoding/json would into the same types (the differential fuzz test in
// jsondecode_fuzz_test.go holds it to that), with two deliberate
// differences, both the behaviour of JSON.parse in Clerk's SDK:
//   - keys match case-sensitively: encoding/json would also take "SUB" or
//     "ſub" as sub, JSON.parse does not;
//   - a key given twice takes its last value, also for objects ("o",
//     "act"), where encoding/json would merge the two.
//
// The top level must be an object (encoding/json would also take null).
// Unknown keys are validated and skipped. Strings without escapes or invalid
// UTF-8 are substrings of the input, not copies: the caller passes a string
// it never modifies.

// maxJSONDepth is encoding/json's nesting limit, so that both accept the
// same texts. Skipping is iterative, with one bit per open container: no
// recursion, and no allocation up to 256 levels.
const maxJSONDepth = 10000

var (
	errJSONSyntax   = errors.New("invalid JSON")
	errJSONDepth    = errors.New("JSON nested too deeply")
	errJSONNoObject = errors.New("JSON value is not an object")
)

// jsonTypeError is a known key holding a value of the wrong JSON type.
type jsonTypeError struct{ key, want string }

// pendingTypeError is a member's type error held by settle: key is the
// member's, err as raised (for a nested object, its member's).
type pendingTypeError struct {
	key string
	err *jsonTypeError
}

func (e *jsonTypeError) Error() string { return "claim " + strconv.Quote(e.key) + " is not " + e.want }

// jsonReader is a cursor over one JSON text.
type jsonReader struct {
	s string
	i int
}

// end checks that nothing but whitespace follows the top-level value.
func (r *jsonReader) end() error {
	r.space()
	if r.i != len(r.s) {
		return errJSONSyntax
	}
	return nil
}

func (r *jsonReader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, 0 at the end.
func (r *jsonReader) peek() byte {
	r.space()
	if r.i < len(r.s) {
		return r.s[r.i]
	}
	return 0
}

// openObject moves past the opening brace of the object at the cursor,
// depth being its own nesting level.
func (r *jsonReader) openObject(depth int) error {
	if c := r.peek(); c != '{' {
		if c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || c >= '0' && c <= '9' {
			return errJSONNoObject
		}
		return errJSONSyntax
	}
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	r.i++
	return nil
}

// members is the state of reading an object one member at a time:
//
//	m, err := r.members(depth)
//	if err != nil {
//		return err
//	}
//	for {
//		key, more, err := r.next(&m)
//		if !more {
//			return err
//		}
//		switch key {
//		case "sub":
//			c.Subject, err = r.stringValue(key)
//		default:
//			err = r.skip(m.depth)
//		}
//		if err != nil {
//			return err
//		}
//	}
//
// Each member's value must be consumed exactly, by a typed read or skip. A
// top-level object (depth 1) must also end the text. (A loop rather than a
// callback: a *jsonReader handed to a func value would escape to the heap.
// The key and error are results rather than fields of m, which would cost
// a store and a load each per key: slower when tried, BenchmarkDecodeJWT
// in bench/README.md.)
type members struct {
	depth    int  // the object's own nesting level; 0 in skipContainer
	first    bool // no member read yet
	skipKeys bool // validate keys without decoding them (key is "")
	// key and start are the member being read (member) and where its
	// value begins.
	key   string
	start int
	// pending are known keys whose latest value had the wrong type (see
	// settle); nil unless the token is malformed.
	pending []pendingTypeError
}

// settle ends one member: err is what reading its value (from start)
// returned. JSON.parse keeps the last of duplicate keys, so a value of the
// wrong type fails the object only if no later member of the same key
// replaces it: such a value is skipped (still validated) and its error kept
// under the key until the object closes (next returns it then). Any other
// error fails at once.
func (r *jsonReader) settle(m *members, err error) error {
	key, start := m.key, m.start
	if err == nil {
		if len(m.pending) > 0 {
			m.pending = slices.DeleteFunc(m.pending, func(p pendingTypeError) bool { return p.key == key })
		}
		return nil
	}
	te, ok := err.(*jsonTypeError)
	if !ok {
		return err
	}
	r.i = start
	if err := r.skip(m.depth); err != nil {
		return err
	}
	m.pending = slices.DeleteFunc(m.pending, func(p pendingTypeError) bool { return p.key == key })
	m.pending = append(m.pending, pendingTypeError{key: key, err: te})
	return nil
}

// member moves to the value of the object's next member (m.key); it is
// false after the closing brace or on an error, which it leaves in *err.
// A decoder reads an object as
//
//	m, err := r.members(depth)
//	for err == nil && r.member(&m, &err) {
//		switch m.key { … default: err = r.skip(m.depth) }
//		err = r.settle(&m, err)
//	}
//	return err
func (r *jsonReader) member(m *members, err *error) bool {
	key, more, nextErr := r.next(m)
	if !more {
		*err = nextErr
		return false
	}
	m.key, m.start = key, r.i
	return true
}

// members opens the object at the cursor.
func (r *jsonReader) members(depth int) (members, error) {
	return members{depth: depth, first: true}, r.openObject(depth)
}

// next moves past the separator before the next member of m and past its
// key, to its value, and returns the key; more is false after the closing
// brace or an error. It is one function, not a few small ones, because it
// runs for every key of every token.
func (r *jsonReader) next(m *members) (key string, more bool, err error) {
	first := m.first
	m.first = false
	switch r.peek() {
	case '}':
		r.i++
		if m.depth == 1 {
			err = r.end()
		}
		if err == nil && len(m.pending) > 0 {
			err = m.pending[0].err
		}
		return "", false, err
	case ',':
		r.i++
		if first || r.peek() != '"' {
			return "", false, errJSONSyntax
		}
	case '"':
		if !first {
			return "", false, errJSONSyntax
		}
	default:
		return "", false, errJSONSyntax
	}
	if m.skipKeys {
		err = r.skipString()
	} else {
		key, err = r.str()
	}
	if err == nil {
		err = r.colon()
	}
	if err != nil {
		return "", false, err
	}
	return key, true, nil
}

// nextSkipped moves to the next member of an object (keys validated, not
// decoded) or element of an array being skipped; more is false after its
// end. skipContainer keeps its own stack of open containers.
func (r *jsonReader) nextSkipped(object, first bool) (more bool, err error) {
	if !object {
		return r.nextElem(first)
	}
	m := members{first: first, skipKeys: true}
	_, more, err = r.next(&m)
	return more, err
}

// colon moves past the colon after a key, to the member's value.
func (r *jsonReader) colon() error {
	if r.peek() != ':' {
		return errJSONSyntax
	}
	r.i++
	r.space()
	return nil
}

// nextElem moves past the separator before the next element of an array;
// more is false after the closing bracket.
func (r *jsonReader) nextElem(first bool) (more bool, err error) {
	switch r.peek() {
	case ']':
		r.i++
		return false, nil
	case ',':
		if first {
			return false, errJSONSyntax
		}
		r.i++
		r.space()
		return true, nil
	default:
		if !first {
			return false, errJSONSyntax
		}
		return true, nil
	}
}

// literal consumes word (true, false, null) if it is next.
func (r *jsonReader) literal(word string) bool {
	if len(r.s)-r.i >= len(word) && r.s[r.i:r.i+len(word)] == word {
		r.i += len(word)
		return true
	}
	return false
}

// null consumes a null literal if one is next.
func (r *jsonReader) null() bool {
	return r.i < len(r.s) && r.s[r.i] == 'n' && r.literal("null")
}

// number reads a number per RFC 8259's grammar and returns its text.
func (r *jsonReader) number() (string, error) {
	s, i := r.s, r.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return "", errJSONSyntax
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return "", errJSONSyntax
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return "", errJSONSyntax
		}
		i = j
	}
	start := r.i
	r.i = i
	return s[start:i], nil
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// str reads the string at the cursor. Without escapes or invalid UTF-8 it
// is a substring of the input; otherwise it is unescaped into a new string.
func (r *jsonReader) str() (string, error) {
	s := r.s
	start := r.i + 1
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			r.i = i + 1
			return s[start:i], nil
		case c == '\\':
			return r.unescape(start, i)
		case c < 0x20:
			return "", errJSONSyntax
		case c < utf8.RuneSelf:
			i++
		default:
			rr, size := utf8.DecodeRuneInString(s[i:])
			if rr == utf8.RuneError && size == 1 {
				return r.unescape(start, i)
			}
			i += size
		}
	}
	return "", errJSONSyntax
}

// unescape finishes reading a string that begins at start and needs
// rewriting from i on, exactly as encoding/json does: escapes decoded, a
// \u surrogate pair combined, a lone surrogate and each byte of invalid
// UTF-8 replaced by U+FFFD.
func (r *jsonReader) unescape(start, i int) (string, error) {
	s := r.s
	b := make([]byte, 0, len(s)-start)
	b = append(b, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			r.i = i + 1
			return string(b), nil
		case c < 0x20:
			return "", errJSONSyntax
		case c == '\\':
			if i+1 >= len(s) {
				return "", errJSONSyntax
			}
			switch s[i+1] {
			case '"', '\\', '/':
				b = append(b, s[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s, i)
				if rr < 0 {
					return "", errJSONSyntax
				}
				if rr >= 0xD800 && rr < 0xE000 {
					// Only a high surrogate followed by an escaped low one
					// is a pair; anything else is one U+FFFD and the next
					// escape is read on its own.
					if lo := hex4(s, i+6); rr < 0xDC00 && lo >= 0xDC00 && lo < 0xE000 {
						rr = 0x10000 + (rr-0xD800)<<10 + (lo - 0xDC00)
						i += 6
					} else {
						rr = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, rr)
				i += 6
				continue
			default:
				return "", errJSONSyntax
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			rr, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, rr) // RuneError for each invalid byte
			i += size
		}
	}
	return "", errJSONSyntax
}

// hex4 decodes the escape \uXXXX at s[i:], -1 if there is none.
func hex4(s string, i int) rune {
	if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return -1
	}
	var v rune
	for _, c := range []byte(s[i+2 : i+6]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		v = v<<4 | rune(c)
	}
	return v
}

// skipString validates the string at the cursor without decoding it.
func (r *jsonReader) skipString() error {
	s := r.s
	for i := r.i + 1; i < len(s); {
		switch c := s[i]; {
		case c == '"':
			r.i = i + 1
			return nil
		case c < 0x20:
			return errJSONSyntax
		case c == '\\':
			if i+1 >= len(s) {
				return errJSONSyntax
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(s, i) < 0 {
					return errJSONSyntax
				}
				i += 6
			default:
				return errJSONSyntax
			}
		default:
			i++ // invalid UTF-8 is replaced, not refused
		}
	}
	return errJSONSyntax
}

// skip validates and consumes the value at the cursor, which sits inside a
// container at nesting level depth.
func (r *jsonReader) skip(depth int) error {
	switch c := r.peek(); c {
	case '{', '[':
		return r.skipContainer(depth)
	case '"':
		return r.skipString()
	case 't':
		return r.word("true")
	case 'f':
		return r.word("false")
	case 'n':
		return r.word("null")
	default:
		_, err := r.number()
		return err
	}
}

func (r *jsonReader) word(w string) error {
	if !r.literal(w) {
		return errJSONSyntax
	}
	return nil
}

// skipContainer skips an object or array without recursion: open records,
// per level, whether the container is an object.
func (r *jsonReader) skipContainer(depth int) error {
	var small [4]uint64 // 256 levels without allocating
	open := small[:]
	n := 0 // containers open, innermost at n-1
	for {
		// The cursor is at a value.
		switch c := r.peek(); c {
		case '{', '[':
			if depth+n+1 > maxJSONDepth {
				return errJSONDepth
			}
			r.i++
			if n/64 == len(open) {
				open = append(open, 0)
			}
			if c == '{' {
				open[n/64] |= 1 << (n % 64)
			} else {
				open[n/64] &^= 1 << (n % 64)
			}
			n++
			more, err := r.nextSkipped(c == '{', true)
			if err != nil {
				return err
			}
			if more {
				continue
			}
			n-- // empty: closed already
		default:
			if err := r.skip(0); err != nil {
				return err
			}
		}
		// A value ended: close containers until one has a next member.
		for {
			if n == 0 {
				return nil
			}
			more, err := r.nextSkipped(open[(n-1)/64]&(1<<((n-1)%64)) != 0, false)
			if err != nil {
				return err
			}
			if more {
				break
			}
			n--
		}
	}
}

// raw consumes any value and returns its text.
func (r *jsonReader) raw(depth int) (string, error) {
	r.space()
	start := r.i
	if err := r.skip(depth); err != nil {
		return "", err
	}
	return r.s[start:r.i], nil
}

// stringValue reads a string; null is "".
func (r *jsonReader) stringValue(key string) (string, error) {
	switch {
	case r.i < len(r.s) && r.s[r.i] == '"':
		return r.str()
	case r.null():
		return "", nil
	}
	return "", &jsonTypeError{key, "a string"}
}

// optStringValue reads a string into *store and returns store; null is nil.
func (r *jsonReader) optStringValue(key string, store *string) (*string, error) {
	switch {
	case r.i < len(r.s) && r.s[r.i] == '"':
		s, err := r.str()
		*store = s
		return store, err
	case r.null():
		return nil, nil
	}
	return nil, &jsonTypeError{key, "a string"}
}

// headerStringValue is optStringValue for the header's typ and cat, where
// null is present and empty rather than absent: the SDK compares a null
// typ or cat like any value other than undefined (null is not "JWT", and
// is a category other than the session's), and "" compares the same here.
func (r *jsonReader) headerStringValue(key string, store *string) (*string, error) {
	if r.null() {
		*store = ""
		return store, nil
	}
	return r.optStringValue(key, store)
}

// numberValue reads a number into *store and returns store, as
// strconv.ParseFloat reads it (out of range is an error, as in
// encoding/json); null is nil.
func (r *jsonReader) numberValue(key string, store *float64) (*float64, error) {
	if r.null() {
		return nil, nil
	}
	if r.i >= len(r.s) || r.s[r.i] != '-' && (r.s[r.i] < '0' || r.s[r.i] > '9') {
		return nil, &jsonTypeError{key, "a number"}
	}
	text, err := r.number()
	if err != nil {
		return nil, err
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, &jsonTypeError{key, "a float64"}
	}
	*store = f
	return store, nil
}

// stringsValue reads an array of strings; null is nil, [] is empty but not
// nil, and a null element is "" (all as in encoding/json).
func (r *jsonReader) stringsValue(key string) ([]string, error) {
	if r.null() {
		return nil, nil
	}
	if r.i >= len(r.s) || r.s[r.i] != '[' {
		return nil, &jsonTypeError{key, "an array"}
	}
	r.i++
	out := []string{}
	for first := true; ; first = false {
		more, err := r.nextElem(first)
		if err != nil {
			return nil, err
		}
		if !more {
			return out, nil
		}
		s, err := r.stringValue(key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

// objectValue reports whether an object is next (to be read with
// members); null is false; anything else is an error.
func (r *jsonReader) objectValue(key string) (bool, error) {
	if r.null() {
		return false, nil
	}
	if r.i >= len(r.s) || r.s[r.i] != '{' {
		return false, &jsonTypeError{key, "an object"}
	}
	return true, nil
}
