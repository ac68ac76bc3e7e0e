//go:build e2e

package integrations

// Clerk's webhooks through every proxy, delivered as Svix delivers them
// for an endpoint the Clerk Dashboard points at
// https://app.example.com/_auth/webhooks/clerk: a POST to the app's host,
// which every config routes straight to the service (the /_auth/ prefix),
// with the svix-id, svix-timestamp and svix-signature headers over the
// exact body. A delivery the service applies therefore proves that the
// proxy passed those headers and the body byte for byte: one byte changed
// and the signature no longer matches.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk/clerktest"
	"github.com/clerk-forward-auth/clerk-forward-auth/webhooks"
)

// webhookPath is the service's WEBHOOK_PATH default, on the app's host.
const webhookPath = "/_auth/webhooks/clerk"

// svixHeaders are the headers Svix signs a delivery with.
var svixHeaders = []string{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}

// delivery is a signed webhook ready to send.
type delivery struct {
	body   []byte
	header http.Header // svix-*, Content-Type, User-Agent
}

// signWebhook signs a Clerk webhook of eventType carrying data with
// secret, as Svix delivers it. With size > 0, data gets a "padding" string
// (a field the service ignores, as it does Clerk's large metadata) making
// the body exactly size bytes.
func signWebhook(t *testing.T, p *proxyUnderTest, secret, eventType string, data map[string]any, size int) delivery {
	t.Helper()
	body, h, err := p.svc.Fake.SignWebhook(secret, eventType, data)
	if err != nil {
		t.Fatal(err)
	}
	if size > 0 {
		// The body's length is linear in the padding's: measure, adjust.
		data["padding"] = ""
		if body, _, err = p.svc.Fake.SignWebhook(secret, eventType, data); err != nil {
			t.Fatal(err)
		}
		if size < len(body) {
			t.Fatalf("size %d is below the unpadded body's %d", size, len(body))
		}
		data["padding"] = strings.Repeat("x", size-len(body))
		if body, h, err = p.svc.Fake.SignWebhook(secret, eventType, data); err != nil {
			t.Fatal(err)
		}
		if len(body) != size {
			t.Fatalf("padded body is %d bytes, want %d", len(body), size)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Svix-Webhooks/1.71.0 (sender-e2e; +https://www.svix.com/http-sender/)")
	return delivery{body: body, header: h}
}

// postWebhook POSTs d through the proxy to the app's host at webhookPath.
// chunked sends the body without Content-Length. A transport error is
// returned, not fatal: a proxy refusing a large body may close the
// connection while the client still writes.
func (p *proxyUnderTest) postWebhook(t *testing.T, d delivery, chunked bool) (result, error) {
	t.Helper()
	id := newTestID()
	u, err := url.Parse(p.base)
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = strings.NewReader(string(d.body))
	if chunked {
		body = struct{ io.Reader }{body} // length unknown: Transfer-Encoding: chunked
	}
	req, err := http.NewRequest(http.MethodPost, p.base+webhookPath, body)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = &url.URL{Scheme: u.Scheme, Host: u.Host, Opaque: webhookPath}
	req.Host = publicHost
	for k, v := range d.header {
		req.Header[k] = v
	}
	req.Header.Set(testIDHeader, id)
	res, err := noRedirectClient.Do(req)
	if err != nil {
		return result{id: id}, err
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	r := result{id: id, status: res.StatusCode, header: res.Header, body: string(b)}
	if p.tap != nil {
		r.auth = p.tap.byID(id)
	}
	return r, nil
}

// deliverWebhook sends a webhook signed with the service's secret and
// checks it was applied: 200 {"ok":true}, and (through the tap between
// the proxy and the service) the service got a POST of webhookPath on the
// app's host with the svix-* headers exactly as Svix sent them.
func deliverWebhook(t *testing.T, p *proxyUnderTest, d delivery) {
	t.Helper()
	r, err := p.postWebhook(t, d, false)
	if err != nil {
		t.Fatalf("webhook delivery: %v", err)
	}
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"ok":true`) {
		t.Errorf("webhook answered %q, want the service's {\"ok\":true}\n%s", r.body, r)
	}
	if len(r.auth) != 1 {
		t.Fatalf("the service got the delivery %d times, want 1\n%s", len(r.auth), r)
	}
	a := r.auth[0]
	if a.Method != http.MethodPost || a.RequestURI != webhookPath || a.Host != publicHost || a.Status != http.StatusOK {
		t.Errorf("the service got %s %s Host %s and answered %d, want POST %s Host %s answered 200", a.Method, a.RequestURI, a.Host, a.Status, webhookPath, publicHost)
	}
	for _, name := range svixHeaders {
		if got, want := a.Header.Values(name), d.header.Values(name); len(got) != 1 || got[0] != want[0] {
			t.Errorf("the service got %s %q, Svix sent %q", name, got, want)
		}
	}
}

// liveSession is a session the fake Clerk knows, and a token of it.
type liveSession struct {
	user, sid, token string
}

func newLiveSession(p *proxyUnderTest, user string) liveSession {
	ss := p.svc.Fake.NewSession(user)
	c := p.svc.claims(user)
	c["sid"] = ss.SessionID
	return liveSession{user: user, sid: ss.SessionID, token: p.svc.token(c)}
}

// wantSignedIn checks that s's token still lets its user in on /dashboard.
func wantSignedIn(t *testing.T, p *proxyUnderTest, s liveSession) {
	t.Helper()
	r := p.send(t, "GET", "/dashboard", bearer(s.token), "")
	wantStatus(t, r, http.StatusOK)
	wantIdentity(t, r, map[string]string{"X-Auth-User-Id": s.user, "X-Auth-Session-Id": s.sid})
}

// wantSessionRevoked checks that s's token is refused as Clerk ended it.
func wantSessionRevoked(t *testing.T, p *proxyUnderTest, s liveSession) {
	t.Helper()
	r := p.send(t, "GET", "/dashboard", bearer(s.token), "")
	wantRefused(t, p, r, http.StatusUnauthorized, "session-revoked")
}

// scenarioWebhookSessionEnded: a session Clerk revoked (ended, removed)
// is refused at once on its next request through the same proxy, while
// the user's other session still works.
func scenarioWebhookSessionEnded(t *testing.T, p *proxyUnderTest) {
	for _, tc := range []struct{ event, status string }{
		{webhooks.EventSessionRevoked, "revoked"},
		{webhooks.EventSessionEnded, "ended"},
		{webhooks.EventSessionRemoved, "removed"},
	} {
		t.Run(tc.event, func(t *testing.T) {
			user := clerktest.NewID("user")
			ended, other := newLiveSession(p, user), newLiveSession(p, user)
			wantSignedIn(t, p, ended)
			wantSignedIn(t, p, other)
			deliverWebhook(t, p, signWebhook(t, p, p.svc.WebhookSecret, tc.event, clerktest.SessionEventData(ended.sid, user, tc.status), 0))
			wantSessionRevoked(t, p, ended)
			wantSignedIn(t, p, other)
		})
	}
}

// scenarioWebhookMembershipDeleted: a member of acme, looked up through
// the Backend API (the token has no active organization) and cached for
// MEMBERSHIP_CACHE_TTL (30 s), is refused on /acme/ as soon as Clerk's
// organizationMembership.deleted arrives.
func scenarioWebhookMembershipDeleted(t *testing.T, p *proxyUnderTest) {
	fake := p.svc.Fake
	user, org := clerktest.NewID("user"), clerktest.NewID("org")
	fake.AddMembership(user, org, "acme", "org:member")
	s := newLiveSession(p, user)
	member := map[string]string{
		"X-Auth-User-Id": user, "X-Auth-Session-Id": s.sid,
		"X-Auth-Org-Id": org, "X-Auth-Org-Slug": "acme", "X-Auth-Org-Role": "org:member",
	}
	r := p.send(t, "GET", "/acme/reports", bearer(s.token), "")
	wantStatus(t, r, http.StatusOK)
	wantIdentity(t, r, member)

	// Removed at Clerk: the cached membership still answers, which is
	// what the webhook is for.
	fake.RemoveMembership(user, org)
	r = p.send(t, "GET", "/acme/reports", bearer(s.token), "")
	wantStatus(t, r, http.StatusOK)
	wantIdentity(t, r, member)

	sent := time.Now()
	deliverWebhook(t, p, signWebhook(t, p, p.svc.WebhookSecret, webhooks.EventMembershipDeleted, clerktest.MembershipEventData(user, org, "org:member"), 0))
	r = p.send(t, "GET", "/acme/reports", bearer(s.token), "")
	wantRefused(t, p, r, http.StatusForbidden, "not-organization-member")
	t.Logf("refused %v after the webhook was sent (MEMBERSHIP_CACHE_TTL 30s)", time.Since(sent).Round(time.Millisecond))
}

// scenarioWebhookForged: deliveries not signed with the endpoint's secret
// are answered 401 by the service through the proxy and change nothing.
func scenarioWebhookForged(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	victim := newLiveSession(p, user)
	wantSignedIn(t, p, victim)
	data := func() map[string]any { return clerktest.SessionEventData(victim.sid, user, "revoked") }

	// Another endpoint's secret.
	wrongSecret := signWebhook(t, p, clerktest.NewWebhookSecret(), webhooks.EventSessionRevoked, data(), 0)
	// A genuine delivery about another session, its body rewritten to
	// name the victim's.
	decoy := clerktest.NewID("sess")
	rewritten := signWebhook(t, p, p.svc.WebhookSecret, webhooks.EventSessionRevoked, clerktest.SessionEventData(decoy, user, "revoked"), 0)
	rewritten.body = []byte(strings.ReplaceAll(string(rewritten.body), decoy, victim.sid))
	// No signature at all.
	unsigned := signWebhook(t, p, p.svc.WebhookSecret, webhooks.EventSessionRevoked, data(), 0)
	for _, h := range svixHeaders {
		unsigned.header.Del(h)
	}
	for _, tc := range []struct {
		name, reason string
		d            delivery
	}{
		{"signed with another secret", "signature-mismatch", wrongSecret},
		{"body rewritten after signing", "signature-mismatch", rewritten},
		{"no svix-* headers", "missing-headers", unsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := p.postWebhook(t, tc.d, false)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, http.StatusUnauthorized)
			if want := `"reason":"` + tc.reason + `"`; !strings.Contains(r.body, want) {
				t.Errorf("body %q lacks %s\n%s", r.body, want, r)
			}
			if len(r.auth) != 1 || r.auth[0].Status != http.StatusUnauthorized {
				t.Errorf("want the service's own 401\n%s", r)
			}
			wantSignedIn(t, p, victim)
		})
	}
}

// scenarioWebhookBodyLimit: a delivery just under the service's limit
// (webhooks.DefaultMaxBody, 256 KiB) passes the proxy and is applied, so
// no proxy needs its body limit raised; larger ones, correctly signed,
// with or without Content-Length, are refused by the proxy or the service
// (whatever the status) and never applied.
func scenarioWebhookBodyLimit(t *testing.T, p *proxyUnderTest) {
	user := clerktest.NewID("user")
	victim := newLiveSession(p, user)
	wantSignedIn(t, p, victim)
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"service limit + 1 KiB, Content-Length", webhooks.DefaultMaxBody + 1<<10, false},
		{"service limit + 1 KiB, chunked", webhooks.DefaultMaxBody + 1<<10, true},
		// Above NGINX's default client_max_body_size (1m) too.
		{"2 MiB, Content-Length", 2 << 20, false},
		{"2 MiB, chunked", 2 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := signWebhook(t, p, p.svc.WebhookSecret, webhooks.EventSessionRevoked, clerktest.SessionEventData(victim.sid, user, "revoked"), tc.size)
			r, err := p.postWebhook(t, d, tc.chunked)
			switch {
			case err != nil:
				t.Logf("%s: connection failed while sending %d bytes: %v", p.name, tc.size, err)
			case r.status < 400:
				t.Errorf("a %d-byte delivery answered %d, want a refusal\n%s", tc.size, r.status, r)
			default:
				by := "the proxy"
				if len(r.auth) > 0 {
					by = fmt.Sprintf("the service (%d)", r.auth[0].Status)
				}
				t.Logf("%s: %d bytes refused with %d by %s: %q", p.name, tc.size, r.status, by, strings.TrimSpace(r.body))
			}
			wantSignedIn(t, p, victim)
		})
	}
	t.Run("service limit - 1 KiB: passes and is applied", func(t *testing.T) {
		ended := newLiveSession(p, user)
		wantSignedIn(t, p, ended)
		deliverWebhook(t, p, signWebhook(t, p, p.svc.WebhookSecret, webhooks.EventSessionRevoked, clerktest.SessionEventData(ended.sid, user, "revoked"), webhooks.DefaultMaxBody-1<<10))
		wantSessionRevoked(t, p, ended)
		wantSignedIn(t, p, victim)
	})
}
