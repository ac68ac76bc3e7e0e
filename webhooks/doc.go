// Package webhooks receives Clerk's webhooks, which Clerk delivers through
// Svix, and turns the ones that change what the service caches into calls
// on a Sink, so that every replica forgets a revoked session, a changed
// membership or a deleted user within a second instead of when its cache
// entry or the session token expires.
//
// # Verification
//
// Each request is checked as Svix documents it (and as svix's own Go and
// JavaScript libraries do), before anything of the body is decoded:
//
//   - the headers svix-id, svix-timestamp (unix seconds, digits only) and
//     svix-signature (a space-separated list of "version,signature"
//     entries) must all be present; the fallback webhook-* header names of
//     the Standard Webhooks flavour are not read, Clerk sends svix-*;
//   - the timestamp must be within Options.Tolerance (default 5 minutes)
//     of the handler's clock, either way, to the second: 300 s is
//     accepted, 301 s refused;
//   - the body is read up to Options.MaxBody (default 256 KiB); a declared
//     or actual larger body is refused without reading the rest;
//   - the signed content is svix-id + "." + timestamp + "." + body, and its
//     HMAC-SHA256 under the key (the standard base64 after "whsec_" in the
//     endpoint's signing secret), base64-encoded, must equal one of the
//     header's "v1," entries, compared in constant time; entries of other
//     versions are ignored;
//   - an svix-id seen before, within the window in which its timestamp is
//     still accepted, is a replay (Seen; the default remembers ids in
//     memory, bounded, per replica).
//
// # Replies
//
//	405 {"error":"method-not-allowed"}              not a POST (Allow: POST)
//	401 {"error":"unauthorized","reason":…}         missing-headers, invalid-headers
//	                                                (malformed or repeated),
//	                                                timestamp-too-old, timestamp-too-new,
//	                                                signature-mismatch
//	413 {"error":"payload-too-large"}               body over MaxBody
//	400 {"error":"bad-request","reason":…}          malformed-body (valid signature, but
//	                                                not JSON, or a handled event without
//	                                                its ids), body-unreadable
//	503 {"error":"unavailable","reason":"replay-store-unavailable"}
//	                                                Seen failed: fail closed, the id is
//	                                                forgotten (it may have been taken),
//	                                                Svix retries
//	503 {"error":"unavailable","reason":"not-applied"}
//	                                                the Sink could not apply it everywhere
//	                                                (another replica not told): the id is
//	                                                forgotten, Svix retries
//	200 {"ok":true}                                 applied, ignored (an event type with no
//	                                                effect here) or duplicate (a replayed
//	                                                svix-id: nothing is done)
//
// A replayed id is answered 200 with nothing done, not 409: Svix treats
// any 2xx as delivered and anything else as a failure to retry, and the
// likeliest replay is Svix itself retrying a message whose first 2xx it
// never received. An attacker replaying a captured request gains nothing
// either way, since it is not applied again.
//
// # Events
//
// The event types and data fields come from @clerk/backend's
// api/resources/Webhooks.ts (the WebhookEvent union) and JSON.ts
// (OrganizationMembershipJSON, SessionWebhookEventJSON, DeletedObjectJSON,
// UserDeletedJSON):
//
//	organizationMembership.created/updated/deleted  Sink.MembershipChanged(data.public_user_data.user_id, data.organization.id)
//	organization.updated/deleted                    Sink.OrganizationChanged(data.id)
//	user.updated/deleted                            Sink.UserChanged(data.id)
//	session.revoked/ended/removed                   Sink.SessionEnded(data.id, data.user_id)
//	role.* and permission.* (created/updated/deleted) Sink.RolesChanged()
//
// Clerk sends no webhook for API keys, M2M tokens or OAuth access tokens
// (none is in the SDK's WebhookEvent union nor in Clerk's event
// catalogue): a revoked credential stops working when its cache entry
// expires (MACHINE_TOKEN_CACHE_TTL). Every other event type with a valid
// signature (user.created, session.created, organizationInvitation.*,
// email.created, billing events, and types Clerk adds later) is answered
// 200 and logged with its type only; HandledEventTypes lists the ones to
// subscribe the endpoint to.
//
// Nothing of the body but the event type is logged, nor the secret.
//
//	h, err := webhooks.NewHandler(os.Getenv("CLERK_WEBHOOK_SECRET"), sink, webhooks.Options{Logger: log})
//	mux.Handle("POST /webhooks/clerk", h)
package webhooks
