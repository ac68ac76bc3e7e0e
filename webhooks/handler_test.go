package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
)

// recordingSink records each call as "Method arg arg", and answers fail.
type recordingSink struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (s *recordingSink) add(call string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	return s.fail
}

func (s *recordingSink) MembershipChanged(_ context.Context, userID, orgID string) error {
	return s.add("MembershipChanged " + userID + " " + orgID)
}
func (s *recordingSink) OrganizationChanged(_ context.Context, orgID string) error {
	return s.add("OrganizationChanged " + orgID)
}
func (s *recordingSink) UserChanged(_ context.Context, userID string) error {
	return s.add("UserChanged " + userID)
}
func (s *recordingSink) SessionEnded(_ context.Context, sessionID, userID string) error {
	return s.add("SessionEnded " + sessionID + " " + userID)
}
func (s *recordingSink) RolesChanged(context.Context) error { return s.add("RolesChanged") }

func (s *recordingSink) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// testNow is the handler's clock in these tests.
var testNow = time.Unix(1_750_000_000, 0)

// testSecret is a fixed signing secret: 24 bytes 0x00..0x17.
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"))

type fixture struct {
	h      *Handler
	sink   *recordingSink
	logs   *bytes.Buffer
	events []string // "type outcome"
	mu     sync.Mutex
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{sink: &recordingSink{}, logs: &bytes.Buffer{}}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	opts.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnEvent = func(eventType, outcome string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, eventType+" "+outcome)
	}
	h, err := NewHandler(testSecret, f.sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// handSign is Svix's v1 signature computed here, apart from the package.
func handSign(secret, id string, ts int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	mac := hmac.New(sha256.New, key)
	_, _ = fmt.Fprintf(mac, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// request is a signed POST of body with id at ts; sig overrides the
// signature header when not "".
func request(id string, ts int64, body []byte, sig string) *http.Request {
	if sig == "" {
		sig = handSign(testSecret, id, ts, body)
	}
	r := httptest.NewRequest(http.MethodPost, "/webhooks/clerk", bytes.NewReader(body))
	r.Header.Set(HeaderID, id)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderSignature, sig)
	return r
}

func (f *fixture) serve(r *http.Request) (int, map[string]any) {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func envelope(t testing.TB, eventType string, data any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": eventType, "object": "event", "data": data, "timestamp": testNow.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var msgSeq int

func nextID() string { msgSeq++; return "msg_test" + strconv.Itoa(msgSeq) }

func TestEachHandledEventReachesItsSinkMethod(t *testing.T) {
	cases := []struct {
		eventType string
		data      any
		want      string
	}{
		{EventMembershipCreated, clerktest.MembershipEventData("user_a", "org_a", "org:admin"), "MembershipChanged user_a org_a"},
		{EventMembershipUpdated, clerktest.MembershipEventData("user_b", "org_b", "org:member"), "MembershipChanged user_b org_b"},
		{EventMembershipDeleted, clerktest.MembershipEventData("user_c", "org_c", "org:member"), "MembershipChanged user_c org_c"},
		{EventOrganizationUpdated, clerktest.OrganizationEventData("org_d"), "OrganizationChanged org_d"},
		{EventOrganizationDeleted, clerktest.DeletedEventData("organization", "org_e"), "OrganizationChanged org_e"},
		{EventUserUpdated, clerktest.UserEventData("user_f"), "UserChanged user_f"},
		{EventUserDeleted, clerktest.DeletedEventData("user", "user_g"), "UserChanged user_g"},
		{EventSessionRevoked, clerktest.SessionEventData("sess_h", "user_h", "revoked"), "SessionEnded sess_h user_h"},
		{EventSessionEnded, clerktest.SessionEventData("sess_i", "user_i", "ended"), "SessionEnded sess_i user_i"},
		{EventSessionRemoved, clerktest.SessionEventData("sess_j", "user_j", "removed"), "SessionEnded sess_j user_j"},
		{EventRoleCreated, map[string]any{"object": "role", "id": "role_k", "key": "org:auditor"}, "RolesChanged"},
		{EventRoleUpdated, map[string]any{"object": "role", "id": "role_l", "key": "org:auditor"}, "RolesChanged"},
		{EventRoleDeleted, clerktest.DeletedEventData("role", "role_m"), "RolesChanged"},
		{EventPermissionCreated, map[string]any{"object": "permission", "id": "perm_n", "key": "org:invoices:read"}, "RolesChanged"},
		{EventPermissionUpdated, map[string]any{"object": "permission", "id": "perm_o", "key": "org:invoices:read"}, "RolesChanged"},
		{EventPermissionDeleted, clerktest.DeletedEventData("permission", "perm_p"), "RolesChanged"},
	}
	if len(cases) != len(HandledEventTypes()) {
		t.Fatalf("%d cases for %d handled types", len(cases), len(HandledEventTypes()))
	}
	for _, c := range cases {
		t.Run(c.eventType, func(t *testing.T) {
			f := newFixture(t, Options{})
			status, out := f.serve(request(nextID(), testNow.Unix(), envelope(t, c.eventType, c.data), ""))
			if status != http.StatusOK || out["ok"] != true {
				t.Fatalf("status %d %v, want 200 {ok:true}", status, out)
			}
			if got := f.sink.Calls(); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("sink calls %q, want %q", got, c.want)
			}
			if !slices.Equal(f.events, []string{c.eventType + " " + OutcomeApplied}) {
				t.Fatalf("OnEvent %q", f.events)
			}
		})
	}
}

// TestSvixPublishedVectorIsAccepted: the example of Svix's documentation
// and library tests (secret, msg id, timestamp, payload, signature).
func TestSvixPublishedVectorIsAccepted(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		sig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	key, err := parseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if !signatureMatches(sig, sign(key, id, ts, []byte(body))) {
		t.Fatalf("Svix's vector is refused: computed v1,%s", sign(key, id, ts, []byte(body)))
	}
	if got := handSign(secret, id, ts, []byte(body)); got != sig {
		t.Fatalf("hand-computed %s, Svix's %s", got, sig)
	}
}

func TestSignatureHeader(t *testing.T) {
	body := envelope(t, EventUserUpdated, clerktest.UserEventData("user_sig"))
	ts := testNow.Unix()
	good := func(id string) string { return handSign(testSecret, id, ts, body) }
	other := clerktest.NewWebhookSecret()
	cases := []struct {
		name   string
		sig    func(id string) string
		body   []byte
		status int
	}{
		{"hand-computed v1 accepted", good, body, 200},
		{"several signatures, the last matches", func(id string) string {
			return handSign(other, id, ts, body) + " v1,AAAA " + good(id)
		}, body, 200},
		{"several signatures, the first matches", func(id string) string {
			return good(id) + " " + handSign(other, id, ts, body)
		}, body, 200},
		{"double spaces between entries", func(id string) string { return "v1,xyz  " + good(id) }, body, 200},
		{"a v2 entry with the right value is ignored", func(id string) string {
			return "v2," + strings.TrimPrefix(good(id), "v1,")
		}, body, 401},
		{"v1a entry ignored", func(id string) string { return "v1a," + strings.TrimPrefix(good(id), "v1,") }, body, 401},
		{"wrong secret", func(id string) string { return handSign(other, id, ts, body) }, body, 401},
		{"body altered by one byte", good, append(slices.Clone(body[:len(body)-2]), body[len(body)-2]^1, body[len(body)-1]), 401},
		{"body with a byte appended", good, append(slices.Clone(body), ' '), 401},
		{"signature of another id", func(string) string { return good("msg_other") }, body, 401},
		{"no version", func(id string) string { return strings.TrimPrefix(good(id), "v1,") }, body, 401},
		{"empty v1", func(string) string { return "v1," }, body, 401},
		{"unpadded base64", func(id string) string { return strings.TrimRight(good(id), "=") }, body, 401},
		{"signature in upper case", func(id string) string { return "v1," + strings.ToUpper(strings.TrimPrefix(good(id), "v1,")) }, body, 401},
		{"V1 in upper case", func(id string) string { return "V1," + strings.TrimPrefix(good(id), "v1,") }, body, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			id := nextID()
			want := c.status
			status, out := f.serve(request(id, ts, c.body, c.sig(id)))
			if status != want {
				t.Fatalf("status %d %v, want %d", status, out, want)
			}
			if want != 200 {
				if out["reason"] != reasonSignatureMismatch {
					t.Fatalf("reason %v", out["reason"])
				}
				if len(f.sink.Calls()) != 0 {
					t.Fatalf("sink called: %q", f.sink.Calls())
				}
			}
		})
	}
}

func TestTimestampWindow(t *testing.T) {
	cases := []struct {
		offset int64
		status int
		reason string
	}{
		{0, 200, ""},
		{-300, 200, ""},
		{300, 200, ""},
		{-301, 401, reasonTimestampTooOld},
		{301, 401, reasonTimestampTooNew},
		{-86400, 401, reasonTimestampTooOld},
	}
	for _, c := range cases {
		t.Run(strconv.FormatInt(c.offset, 10), func(t *testing.T) {
			// A clock half a second past the second: the window is whole seconds.
			f := newFixture(t, Options{Now: func() time.Time { return testNow.Add(500 * time.Millisecond) }})
			body := envelope(t, EventUserUpdated, clerktest.UserEventData("user_ts"))
			status, out := f.serve(request(nextID(), testNow.Unix()+c.offset, body, ""))
			if status != c.status || (c.reason != "" && out["reason"] != c.reason) {
				t.Fatalf("status %d %v, want %d %s", status, out, c.status, c.reason)
			}
			if c.status != 200 && len(f.sink.Calls()) != 0 {
				t.Fatalf("sink called: %q", f.sink.Calls())
			}
		})
	}
}

func TestMissingInvalidOrRepeatedHeadersAre401(t *testing.T) {
	body := envelope(t, EventUserUpdated, clerktest.UserEventData("user_hdr"))
	cases := []struct {
		name   string
		edit   func(r *http.Request)
		reason string
	}{
		{"no svix-id", func(r *http.Request) { r.Header.Del(HeaderID) }, reasonMissingHeaders},
		{"no svix-timestamp", func(r *http.Request) { r.Header.Del(HeaderTimestamp) }, reasonMissingHeaders},
		{"no svix-signature", func(r *http.Request) { r.Header.Del(HeaderSignature) }, reasonMissingHeaders},
		{"timestamp in milliseconds", func(r *http.Request) {
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(testNow.UnixMilli(), 10))
		}, reasonTimestampTooNew},
		{"signed timestamp", func(r *http.Request) { r.Header.Set(HeaderTimestamp, "+"+r.Header.Get(HeaderTimestamp)) }, reasonInvalidHeaders},
		{"fractional timestamp", func(r *http.Request) { r.Header.Set(HeaderTimestamp, r.Header.Get(HeaderTimestamp)+".5") }, reasonInvalidHeaders},
		{"id with a space", func(r *http.Request) { r.Header.Set(HeaderID, "msg_a b") }, reasonInvalidHeaders},
		{"id too long", func(r *http.Request) { r.Header.Set(HeaderID, strings.Repeat("m", 257)) }, reasonInvalidHeaders},
		// The first of each pair is Svix's own, valid: read alone it would pass.
		{"two svix-id headers", func(r *http.Request) { r.Header.Add(HeaderID, "msg_other") }, reasonInvalidHeaders},
		{"two svix-timestamp headers", func(r *http.Request) { r.Header.Add(HeaderTimestamp, "1") }, reasonInvalidHeaders},
		{"two svix-signature headers", func(r *http.Request) { r.Header.Add(HeaderSignature, "v1,Zm9v") }, reasonInvalidHeaders},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			r := request(nextID(), testNow.Unix(), body, "")
			c.edit(r)
			status, out := f.serve(r)
			if status != 401 || out["error"] != "unauthorized" || out["reason"] != c.reason {
				t.Fatalf("status %d %v, want 401 %s", status, out, c.reason)
			}
			if len(f.sink.Calls()) != 0 {
				t.Fatalf("sink called: %q", f.sink.Calls())
			}
		})
	}
}

func TestReplayedIDIsNotAppliedTwice(t *testing.T) {
	now := testNow
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	body := envelope(t, EventSessionRevoked, clerktest.SessionEventData("sess_r", "user_r", "revoked"))
	id, ts := nextID(), testNow.Unix()
	for i, at := range []time.Duration{0, time.Second, 5 * time.Minute} {
		now = testNow.Add(at)
		status, out := f.serve(request(id, ts, body, ""))
		if status != 200 || out["ok"] != true {
			t.Fatalf("delivery %d: status %d %v", i, status, out)
		}
	}
	// Past the window the timestamp check refuses it.
	now = testNow.Add(5*time.Minute + time.Second)
	if status, out := f.serve(request(id, ts, body, "")); status != 401 || out["reason"] != reasonTimestampTooOld {
		t.Fatalf("after the window: status %d %v", status, out)
	}
	if got := f.sink.Calls(); !slices.Equal(got, []string{"SessionEnded sess_r user_r"}) {
		t.Fatalf("sink calls %q, want one", got)
	}
	want := []string{EventSessionRevoked + " applied", EventSessionRevoked + " duplicate", EventSessionRevoked + " duplicate", " unauthorized"}
	if !slices.Equal(f.events, want) {
		t.Fatalf("OnEvent %q, want %q", f.events, want)
	}
	// The same id re-signed at a new timestamp (as Svix retries) is still a duplicate.
	now = testNow.Add(time.Minute)
	if status, _ := f.serve(request(id, now.Unix(), body, "")); status != 200 || len(f.sink.Calls()) != 1 {
		t.Fatalf("re-signed retry: status %d, calls %q", status, f.sink.Calls())
	}
}

type failingSeen struct{}

func (failingSeen) FirstTime(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func (failingSeen) Forget(context.Context, string) error {
	return errors.New("redis: connection refused")
}

// A sink that could not tell every replica makes the delivery a 503 and
// forgets its id: Svix's redelivery (same id) is then applied, not taken
// for a duplicate.
func TestSinkFailureIs503AndTheRedeliveryIsApplied(t *testing.T) {
	f := newFixture(t, Options{})
	f.sink.fail = errors.New("redis: i/o timeout")
	body := envelope(t, EventSessionRevoked, clerktest.SessionEventData("sess_f", "user_f", "revoked"))
	id := nextID()
	status, out := f.serve(request(id, testNow.Unix(), body, ""))
	if status != http.StatusServiceUnavailable || out["reason"] != "not-applied" {
		t.Fatalf("status %d %v, want 503 not-applied", status, out)
	}
	f.sink.mu.Lock()
	f.sink.fail = nil
	f.sink.mu.Unlock()
	if status, out := f.serve(request(id, testNow.Unix()+30, body, "")); status != 200 || out["ok"] != true {
		t.Fatalf("redelivery: status %d %v", status, out)
	}
	if got := f.sink.Calls(); len(got) != 2 {
		t.Fatalf("sink calls %q, want the delivery and its redelivery", got)
	}
	want := []string{EventSessionRevoked + " unavailable", EventSessionRevoked + " applied"}
	if !slices.Equal(f.events, want) {
		t.Fatalf("OnEvent %q, want %q", f.events, want)
	}
}

func TestReplayStoreFailureIs503AndNothingApplied(t *testing.T) {
	f := newFixture(t, Options{Seen: failingSeen{}})
	status, out := f.serve(request(nextID(), testNow.Unix(), envelope(t, EventUserDeleted, clerktest.DeletedEventData("user", "user_x")), ""))
	if status != http.StatusServiceUnavailable || out["reason"] != "replay-store-unavailable" {
		t.Fatalf("status %d %v, want 503", status, out)
	}
	if len(f.sink.Calls()) != 0 {
		t.Fatalf("sink called: %q", f.sink.Calls())
	}
}

func TestSecretIsRefusedAtConstruction(t *testing.T) {
	for _, secret := range []string{
		"",
		"whsec_",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",       // no prefix
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  // bad length
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa*w", // not base64
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ", // trailing space
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw_", // URL alphabet
		"whsec_c2hvcnQ=", // 5 bytes
		"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	} {
		_, err := NewHandler(secret, &recordingSink{}, Options{})
		if err == nil {
			t.Errorf("NewHandler(%q) accepted", secret)
			continue
		}
		if rest := strings.TrimPrefix(secret, "whsec_"); len(rest) > 4 && strings.Contains(err.Error(), rest) {
			t.Errorf("error %q contains the secret", err)
		}
	}
	if _, err := NewHandler(testSecret, nil, Options{}); err == nil {
		t.Error("NewHandler accepted a nil sink")
	}
	if _, err := NewHandler("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &recordingSink{}, Options{}); err != nil {
		t.Errorf("Svix's example secret refused: %v", err)
	}
}

// capReader yields an endless body but fails the test's request if read
// past limit bytes.
type capReader struct {
	limit, read int64
	overread    bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.read+int64(len(p)) > c.limit {
		p = p[:c.limit-c.read]
		if len(p) == 0 {
			c.overread = true
			return 0, errors.New("read past the body cap")
		}
	}
	for i := range p {
		p[i] = ' '
	}
	c.read += int64(len(p))
	return len(p), nil
}

func TestOversizeBodyIs413WithoutReadingIt(t *testing.T) {
	const maxBody = 1 << 10
	t.Run("undeclared length", func(t *testing.T) {
		f := newFixture(t, Options{MaxBody: maxBody})
		body := &capReader{limit: maxBody + 1}
		r := request(nextID(), testNow.Unix(), nil, "v1,AAAA")
		r.Body, r.ContentLength = io.NopCloser(body), -1
		if status, out := f.serve(r); status != http.StatusRequestEntityTooLarge || out["error"] != "payload-too-large" {
			t.Fatalf("status %d %v, want 413", status, out)
		}
		if body.overread || body.read != maxBody+1 {
			t.Fatalf("read %d bytes (overread %v), want %d", body.read, body.overread, maxBody+1)
		}
	})
	t.Run("declared length", func(t *testing.T) {
		f := newFixture(t, Options{MaxBody: maxBody})
		body := &capReader{limit: 0}
		r := request(nextID(), testNow.Unix(), nil, "v1,AAAA")
		r.Body, r.ContentLength = io.NopCloser(body), maxBody+1
		if status, _ := f.serve(r); status != http.StatusRequestEntityTooLarge || body.read != 0 || body.overread {
			t.Fatalf("status %d, read %d", status, body.read)
		}
	})
	t.Run("default cap is 256 KiB, exactly accepted", func(t *testing.T) {
		f := newFixture(t, Options{})
		prefix := envelope(t, EventUserUpdated, clerktest.UserEventData("user_big"))
		body := append(prefix, bytes.Repeat([]byte(" "), DefaultMaxBody-len(prefix))...)
		if status, _ := f.serve(request(nextID(), testNow.Unix(), body, "")); status != 200 {
			t.Fatalf("a body of exactly 256 KiB: status %d", status)
		}
		body = append(body, ' ')
		if status, _ := f.serve(request(nextID(), testNow.Unix(), body, "")); status != 413 {
			t.Fatalf("256 KiB + 1: status %d", status)
		}
	})
}

func TestWrongMethodIs405(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		f := newFixture(t, Options{})
		r := request(nextID(), testNow.Unix(), envelope(t, EventUserUpdated, clerktest.UserEventData("user_m")), "")
		r.Method = method
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" || len(f.sink.Calls()) != 0 {
			t.Errorf("%s: status %d, Allow %q", method, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestUnhandledEventTypeIs200AndNothingCalled(t *testing.T) {
	for _, eventType := range []string{"user.created", "session.created", "organization.created", "organizationInvitation.accepted", "apiKey.revoked", "something.new"} {
		f := newFixture(t, Options{Seen: failingSeen{}}) // not even asked
		status, out := f.serve(request(nextID(), testNow.Unix(), envelope(t, eventType, map[string]any{"id": "x"}), ""))
		if status != 200 || out["ok"] != true || len(f.sink.Calls()) != 0 {
			t.Errorf("%s: status %d %v, calls %q", eventType, status, out, f.sink.Calls())
		}
		if !slices.Equal(f.events, []string{eventType + " " + OutcomeIgnored}) {
			t.Errorf("%s: OnEvent %q", eventType, f.events)
		}
	}
}

func TestMalformedBodyIs400AndNothingCalled(t *testing.T) {
	membership := func(edit func(m map[string]any)) string {
		m := clerktest.MembershipEventData("user_1", "org_1", "org:admin")
		edit(m)
		return string(envelope(t, EventMembershipUpdated, m))
	}
	cases := map[string]string{
		"not JSON":               `{"type":"user.updated",`,
		"JSON array":             `[{"type":"user.updated"}]`,
		"no type":                `{"object":"event","data":{"id":"user_1"}}`,
		"type not a string":      `{"type":1,"data":{"id":"user_1"}}`,
		"no data":                `{"type":"user.updated","object":"event"}`,
		"data null":              `{"type":"user.updated","data":null}`,
		"data an array":          `{"type":"user.updated","data":["user_1"]}`,
		"user id missing":        `{"type":"user.updated","data":{"object":"user"}}`,
		"user id empty":          `{"type":"user.deleted","data":{"id":"","deleted":true}}`,
		"user id a number":       `{"type":"user.updated","data":{"id":12}}`,
		"user id with a space":   `{"type":"user.updated","data":{"id":"user 1"}}`,
		"organization id null":   `{"type":"organization.deleted","data":{"id":null}}`,
		"session without user":   `{"type":"session.revoked","data":{"id":"sess_1"}}`,
		"session without id":     `{"type":"session.ended","data":{"user_id":"user_1"}}`,
		"membership without org": membership(func(m map[string]any) { delete(m, "organization") }),
		"membership without user": membership(func(m map[string]any) {
			delete(m["public_user_data"].(map[string]any), "user_id")
		}),
		"membership org id too long": membership(func(m map[string]any) {
			m["organization"].(map[string]any)["id"] = "org_" + strings.Repeat("x", 300)
		}),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Options{})
			status, out := f.serve(request(nextID(), testNow.Unix(), []byte(body), ""))
			if status != 400 || out["reason"] != "malformed-body" {
				t.Fatalf("status %d %v, want 400 malformed-body", status, out)
			}
			if len(f.sink.Calls()) != 0 {
				t.Fatalf("sink called: %q", f.sink.Calls())
			}
		})
	}
}

// TestLogsCarryNothingOfTheBody: whatever the outcome, the log lines hold
// the event type but no id, value or key of the body, and not the secret.
func TestLogsCarryNothingOfTheBody(t *testing.T) {
	const marker = "MARKER7f3a"
	f := newFixture(t, Options{})
	send := func(body []byte, sig string) {
		f.serve(request(nextID(), testNow.Unix(), body, sig))
	}
	user := clerktest.UserEventData("user_" + marker)
	user["email_addresses"] = []any{map[string]any{"email_address": marker + "@example.com"}}
	send(envelope(t, EventUserUpdated, user), "")                                                      // applied
	send(envelope(t, "email.created", map[string]any{"body": marker}), "")                             // ignored
	send([]byte(`{"type":"user.updated","data":{"`+marker+`":1}}`), "")                                // malformed
	send([]byte(`{"type":"user.updated","data":{"id":"`+marker+`"`), "")                               // not JSON
	send(envelope(t, EventUserUpdated, user), "v1,"+base64.StdEncoding.EncodeToString([]byte(marker))) // bad signature
	body := envelope(t, EventSessionEnded, clerktest.SessionEventData("sess_"+marker, "user_"+marker, "ended"))
	id := nextID()
	f.serve(request(id, testNow.Unix(), body, ""))
	f.serve(request(id, testNow.Unix(), body, "")) // duplicate
	logs := f.logs.String()
	if strings.Count(logs, "\n") < 7 {
		t.Fatalf("expected a line per request, got:\n%s", logs)
	}
	for _, secret := range []string{marker, strings.TrimPrefix(testSecret, "whsec_")} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"type":"email.created"`, `"type":"user.updated"`, `"reason":"signature-mismatch"`, `"type":"session.ended"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestClerktestWebhooksAreAcceptedOverHTTP: the fake's sender and the
// handler agree, through a real server.
func TestClerktestWebhooksAreAcceptedOverHTTP(t *testing.T) {
	fake := clerktest.Start(t, clerktest.Options{})
	secret := clerktest.NewWebhookSecret()
	sink := &recordingSink{}
	h, err := NewHandler(secret, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := fake.SendWebhook(context.Background(), srv.URL, secret, EventMembershipDeleted, clerktest.MembershipEventData("user_1", "org_1", "org:member"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s", resp.StatusCode, b)
	}
	if got := sink.Calls(); !slices.Equal(got, []string{"MembershipChanged user_1 org_1"}) {
		t.Fatalf("sink calls %q", got)
	}
	// Signed with another endpoint's secret: refused.
	resp, err = fake.SendWebhook(context.Background(), srv.URL, clerktest.NewWebhookSecret(), EventUserDeleted, clerktest.DeletedEventData("user", "user_1"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 401 || len(sink.Calls()) != 1 {
		t.Fatalf("other secret: status %d, calls %q", resp.StatusCode, sink.Calls())
	}
}

// BenchmarkHandler: one signed membership webhook, verified, decoded and
// applied (a fresh svix-id each time, so the replay store grows to its cap).
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b, Options{})
	f.h.log = slog.New(slog.DiscardHandler)
	f.h.onEvent = nil
	body := envelope(b, EventMembershipUpdated, clerktest.MembershipEventData("user_bench", "org_bench", "org:admin"))
	b.SetBytes(int64(len(body)))
	for i := 0; b.Loop(); i++ {
		r := request("msg_bench"+strconv.Itoa(i), testNow.Unix(), body, "")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// lossySeen is a MemorySeen behind a store that, like Redis, fails a call
// whose context is done, and whose first FirstTime takes the id but
// answers an error (SET NX done, its reply lost to a timeout) when
// takeThenFail is set.
type lossySeen struct {
	mem          *MemorySeen
	takeThenFail bool
}

func (s *lossySeen) FirstTime(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	first, err := s.mem.FirstTime(ctx, id, ttl)
	if s.takeThenFail {
		s.takeThenFail = false
		return false, errors.New("redis: i/o timeout")
	}
	return first, err
}

func (s *lossySeen) Forget(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.mem.Forget(ctx, id)
}

// ctxSink records the calls that succeed; during runs first (e.g. the
// client going away), then a call whose context is done fails.
type ctxSink struct {
	recordingSink
	during func()
}

func (s *ctxSink) apply(ctx context.Context, call string) error {
	if s.during != nil {
		s.during()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.add(call)
}

func (s *ctxSink) SessionEnded(ctx context.Context, sessionID, userID string) error {
	return s.apply(ctx, "SessionEnded "+sessionID+" "+userID)
}

// TestAnEventAnswered503IsAppliedWhenSvixDeliversItAgain: whatever made a
// delivery fail after its signature passed, the id is not left taken, so
// that Svix's redelivery (same svix-id) is applied rather than answered
// 200 as a duplicate, which would end Svix's retries with the event lost.
func TestAnEventAnswered503IsAppliedWhenSvixDeliversItAgain(t *testing.T) {
	cases := []struct {
		name string
		// setup returns the Seen and the sink, given the first request's cancel.
		setup func(cancel context.CancelFunc) (*lossySeen, *ctxSink)
	}{
		{"the replay store took the id but answered an error", func(context.CancelFunc) (*lossySeen, *ctxSink) {
			return &lossySeen{mem: NewMemorySeen(0, func() time.Time { return testNow }), takeThenFail: true}, &ctxSink{}
		}},
		{"the client went away while the sink applied it", func(cancel context.CancelFunc) (*lossySeen, *ctxSink) {
			sink := &ctxSink{}
			sink.during = func() { cancel(); sink.during = nil }
			return &lossySeen{mem: NewMemorySeen(0, func() time.Time { return testNow })}, sink
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen, sink := c.setup(cancel)
			h, err := NewHandler(testSecret, sink, Options{Seen: seen, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			body := envelope(t, EventSessionRevoked, clerktest.SessionEventData("sess_lost", "user_lost", "revoked"))
			id := nextID()
			for _, r := range []*http.Request{
				request(id, testNow.Unix(), body, "").WithContext(ctx),
				request(id, testNow.Unix()+5, body, ""), // Svix's retry, 5 s later
			} {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			if got := sink.Calls(); !slices.Equal(got, []string{"SessionEnded sess_lost user_lost"}) {
				t.Fatalf("applied %q, want the session ended once", got)
			}
		})
	}
}
