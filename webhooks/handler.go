package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxBody   = 256 << 10
	DefaultTolerance = 5 * time.Minute
)

// Outcomes reported to Options.OnEvent.
const (
	OutcomeApplied          = "applied"            // a handled event reached the sink
	OutcomeIgnored          = "ignored"            // valid, but a type with no effect here
	OutcomeDuplicate        = "duplicate"          // a replayed svix-id: nothing done
	OutcomeMalformed        = "malformed"          // valid signature, unusable body (400)
	OutcomeUnauthorized     = "unauthorized"       // headers, timestamp or signature (401)
	OutcomeTooLarge         = "too_large"          // 413
	OutcomeMethodNotAllowed = "method_not_allowed" // 405
	OutcomeUnavailable      = "unavailable"        // Seen failed (503)
)

// Options configure a Handler; the zero value takes every default.
type Options struct {
	// Seen remembers svix-ids against replays; default a MemorySeen of
	// DefaultSeenCapacity on the handler's clock.
	Seen Seen
	// Now is the clock timestamps are checked against (default time.Now).
	Now func() time.Time
	// Logger gets one line per webhook: warn when refused, error when
	// Seen failed, info when ignored or a duplicate, debug when applied;
	// with the event type and svix-id only. Default: discarded.
	Logger *slog.Logger
	// MaxBody is the largest body read (default DefaultMaxBody).
	MaxBody int64
	// Tolerance is how far svix-timestamp may be from Now, either way
	// (default DefaultTolerance, Svix's).
	Tolerance time.Duration
	// OnEvent, if set, is called once per request with the event type
	// ("" when the body was not verified or not readable) and one of the
	// Outcome constants, e.g. for a metric.
	OnEvent func(eventType, outcome string)
}

// Handler receives Clerk's webhooks; see the package documentation.
type Handler struct {
	key       []byte
	sink      Sink
	seen      Seen
	now       func() time.Time
	log       *slog.Logger
	maxBody   int64
	tolerance time.Duration
	onEvent   func(eventType, outcome string)
}

// NewHandler makes a Handler for the endpoint signing secret ("whsec_"
// and standard base64, as the Clerk Dashboard shows it). It refuses a
// secret without the prefix, with bad base64 or a key under 16 bytes, and
// a nil sink; its errors never contain the secret.
func NewHandler(secret string, sink Sink, opts Options) (*Handler, error) {
	key, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("webhooks: nil Sink")
	}
	h := &Handler{
		key: key, sink: sink, seen: opts.Seen, now: opts.Now, log: opts.Logger,
		maxBody: opts.MaxBody, tolerance: opts.Tolerance, onEvent: opts.OnEvent,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.seen == nil {
		h.seen = NewMemorySeen(DefaultSeenCapacity, h.now)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.tolerance <= 0 {
		h.tolerance = DefaultTolerance
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "", OutcomeMethodNotAllowed, "")
		return
	}
	id, tsHeader, sigHeader := r.Header.Get(HeaderID), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	if id == "" || tsHeader == "" || sigHeader == "" {
		h.refuse(w, r, http.StatusUnauthorized, "", OutcomeUnauthorized, reasonMissingHeaders)
		return
	}
	ts, ok := parseTimestamp(tsHeader)
	// Svix sends each header once (several signatures go space-separated in
	// one); a repeated one is ambiguous, so it is refused, not half read.
	repeated := len(r.Header.Values(HeaderID)) > 1 || len(r.Header.Values(HeaderTimestamp)) > 1 || len(r.Header.Values(HeaderSignature)) > 1
	if !ok || !validID(id) || repeated {
		h.refuse(w, r, http.StatusUnauthorized, "", OutcomeUnauthorized, reasonInvalidHeaders)
		return
	}
	now := h.now()
	if reason := checkTimestamp(ts, now, h.tolerance); reason != "" {
		h.refuse(w, r, http.StatusUnauthorized, "", OutcomeUnauthorized, reason)
		return
	}
	if r.ContentLength > h.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "", OutcomeTooLarge, "")
		return
	}
	body, err := readBody(r.Body, h.maxBody)
	if errors.Is(err, errTooLarge) {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "", OutcomeTooLarge, "")
		return
	}
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "", OutcomeMalformed, "body-unreadable")
		return
	}
	if !signatureMatches(sigHeader, sign(h.key, id, ts, body)) {
		h.refuse(w, r, http.StatusUnauthorized, "", OutcomeUnauthorized, reasonSignatureMismatch)
		return
	}

	// From here the body is Clerk's.
	ev, err := decodeEvent(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, ev.typ, OutcomeMalformed, "malformed-body")
		return
	}
	if ev.kind == kindIgnored {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "clerk webhook ignored: event type not handled",
			slog.String("type", ev.typ), slog.String("svix_id", id))
		h.reply(w, http.StatusOK, map[string]any{"ok": true}, ev.typ, OutcomeIgnored)
		return
	}
	// Remember the id until its timestamp leaves the window (and a second
	// more): past that, the timestamp check refuses it anyway.
	ttl := time.Unix(ts, 0).Add(h.tolerance).Sub(now) + time.Second
	// Taking the id, applying and releasing it are done even if the client
	// goes away meanwhile: cancelled half-way, the apply would fail, then
	// the release, and Svix's redelivery would be taken for a duplicate.
	// Seen and the Sink bound their own calls.
	ctx := context.WithoutCancel(r.Context())
	first, err := h.seen.FirstTime(ctx, id, ttl)
	if err != nil {
		// The store may have taken the id before failing (Redis ran the
		// SET NX, its reply came after the timeout): release it, or Svix's
		// redelivery would be answered as a duplicate and the event lost.
		if ferr := h.seen.Forget(ctx, id); ferr != nil {
			err = errors.Join(err, ferr)
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "clerk webhook refused: replay store failed",
			slog.String("type", ev.typ), slog.String("svix_id", id), slog.String("error", err.Error()))
		h.reply(w, http.StatusServiceUnavailable, map[string]any{"error": "unavailable", "reason": "replay-store-unavailable"}, ev.typ, OutcomeUnavailable)
		return
	}
	if !first {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "clerk webhook duplicate: svix-id already seen, nothing done",
			slog.String("type", ev.typ), slog.String("svix_id", id))
		h.reply(w, http.StatusOK, map[string]any{"ok": true}, ev.typ, OutcomeDuplicate)
		return
	}
	if err := ev.apply(ctx, h.sink); err != nil {
		// Not applied everywhere: forget the id so that Svix's retry is
		// applied, and say 503 so that it retries.
		if ferr := h.seen.Forget(ctx, id); ferr != nil {
			err = errors.Join(err, ferr)
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "clerk webhook not applied everywhere: 503 for Svix to deliver it again",
			slog.String("type", ev.typ), slog.String("svix_id", id), slog.String("error", err.Error()))
		h.reply(w, http.StatusServiceUnavailable, map[string]any{"error": "unavailable", "reason": "not-applied"}, ev.typ, OutcomeUnavailable)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "clerk webhook applied",
		slog.String("type", ev.typ), slog.String("svix_id", id))
	h.reply(w, http.StatusOK, map[string]any{"ok": true}, ev.typ, OutcomeApplied)
}

// refuse answers {"error", "reason"} and logs the refusal (without the
// body, the headers' values or the secret).
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, eventType, outcome, reason string) {
	errName := map[int]string{
		http.StatusMethodNotAllowed:      "method-not-allowed",
		http.StatusUnauthorized:          "unauthorized",
		http.StatusRequestEntityTooLarge: "payload-too-large",
		http.StatusBadRequest:            "bad-request",
	}[status]
	attrs := []slog.Attr{slog.Int("status", status), slog.String("remote_addr", r.RemoteAddr)}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if eventType != "" {
		attrs = append(attrs, slog.String("type", eventType))
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "clerk webhook refused", attrs...)
	out := map[string]any{"error": errName}
	if reason != "" {
		out["reason"] = reason
	}
	h.reply(w, status, out, eventType, outcome)
}

func (h *Handler) reply(w http.ResponseWriter, status int, body map[string]any, eventType, outcome string) {
	if h.onEvent != nil {
		h.onEvent(eventType, outcome)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
