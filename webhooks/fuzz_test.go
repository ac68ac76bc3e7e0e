package webhooks

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// FuzzHandler: no header or body makes the handler panic, answer outside
// its documented statuses, or call the sink without answering 200. With
// sign set, the signature is right, so the body decoder is reached.
func FuzzHandler(f *testing.F) {
	f.Add("msg_1", int64(0), "v1,AAAA", []byte(`{"type":"user.updated","data":{"id":"user_1"}}`), true)
	f.Add("msg_2", int64(-301), "v2,x v1,y", []byte(`{}`), false)
	f.Add("msg_3", int64(0), " ,, v1 v1,", []byte(`{"type":"session.revoked","data":{"id":"s","user_id":7}}`), true)
	f.Add("msg_4", int64(0), "", []byte(`{"type":"organizationMembership.deleted","data":{"organization":null,"public_user_data":{"user_id":"u"}}}`), true)
	f.Add("", int64(300), "v1,", []byte("\xff"), true)
	f.Fuzz(func(t *testing.T, id string, offset int64, sig string, body []byte, signIt bool) {
		sink := &recordingSink{}
		h, err := NewHandler(testSecret, sink, Options{MaxBody: 4096})
		if err != nil {
			t.Fatal(err)
		}
		h.now = func() time.Time { return testNow }
		h.seen = NewMemorySeen(16, h.now)
		ts := testNow.Unix() + offset%1000
		signed := signIt && validID(id)
		if signed {
			sig = handSign(testSecret, id, ts, body) + " " + sig
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		// Set, not a map write: the handler reads the canonical names
		// (Svix-Id), as a server stores them.
		r.Header.Set(HeaderID, id)
		r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		r.Header.Set(HeaderSignature, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 413:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if signed && offset%1000 >= -300 && offset%1000 <= 300 && w.Code == 401 {
			t.Fatalf("signed within the window, yet 401: %s", w.Body)
		}
		if len(sink.Calls()) > 0 && w.Code != 200 {
			t.Fatalf("sink called with status %d", w.Code)
		}
		// The signature header parser alone, on the raw input.
		_ = signatureMatches(sig, []byte(sig))
	})
}
