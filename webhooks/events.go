package webhooks

import (
	"context"
	"encoding/json"
	"errors"
)

// Sink applies an event's effect on cached state. Methods must be quick
// (they run before the 2xx answer) and safe for concurrent use; they are
// called only for events whose signature, timestamp and svix-id passed.
// Their context is not cancelled when the client goes away, so each
// must bound its own calls.
//
// A method returns an error when the change could not be applied
// everywhere it must be (another replica was not told): the handler then
// forgets the delivery and answers 503, so Svix delivers it again.
type Sink interface {
	// MembershipChanged: userID's membership of orgID was created,
	// updated (role, permissions) or deleted.
	MembershipChanged(ctx context.Context, userID, orgID string) error
	// OrganizationChanged: the organization was updated or deleted.
	OrganizationChanged(ctx context.Context, orgID string) error
	// UserChanged: the user was updated (profile, ban, lock) or deleted.
	UserChanged(ctx context.Context, userID string) error
	// SessionEnded: the session was revoked, ended or removed; its token
	// must be refused from now on.
	SessionEnded(ctx context.Context, sessionID, userID string) error
	// RolesChanged: a role or permission was created, updated or
	// deleted, which changes what every membership with that role grants.
	RolesChanged(ctx context.Context) error
}

// The event types the handler applies (@clerk/backend's WebhookEvent).
const (
	EventMembershipCreated   = "organizationMembership.created"
	EventMembershipUpdated   = "organizationMembership.updated"
	EventMembershipDeleted   = "organizationMembership.deleted"
	EventOrganizationUpdated = "organization.updated"
	EventOrganizationDeleted = "organization.deleted"
	EventUserUpdated         = "user.updated"
	EventUserDeleted         = "user.deleted"
	EventSessionRevoked      = "session.revoked"
	EventSessionEnded        = "session.ended"
	EventSessionRemoved      = "session.removed"
	EventRoleCreated         = "role.created"
	EventRoleUpdated         = "role.updated"
	EventRoleDeleted         = "role.deleted"
	EventPermissionCreated   = "permission.created"
	EventPermissionUpdated   = "permission.updated"
	EventPermissionDeleted   = "permission.deleted"
)

// eventKind is what an event type does to the cache.
type eventKind int

const (
	kindIgnored eventKind = iota
	kindMembership
	kindOrganization
	kindUser
	kindSession
	kindRoles
)

var eventKinds = map[string]eventKind{
	EventMembershipCreated:   kindMembership,
	EventMembershipUpdated:   kindMembership,
	EventMembershipDeleted:   kindMembership,
	EventOrganizationUpdated: kindOrganization,
	EventOrganizationDeleted: kindOrganization,
	EventUserUpdated:         kindUser,
	EventUserDeleted:         kindUser,
	EventSessionRevoked:      kindSession,
	EventSessionEnded:        kindSession,
	EventSessionRemoved:      kindSession,
	EventRoleCreated:         kindRoles,
	EventRoleUpdated:         kindRoles,
	EventRoleDeleted:         kindRoles,
	EventPermissionCreated:   kindRoles,
	EventPermissionUpdated:   kindRoles,
	EventPermissionDeleted:   kindRoles,
}

// HandledEventTypes lists the event types the handler applies, the ones to
// subscribe the Clerk endpoint to.
func HandledEventTypes() []string {
	return []string{
		EventMembershipCreated, EventMembershipUpdated, EventMembershipDeleted,
		EventOrganizationUpdated, EventOrganizationDeleted,
		EventUserUpdated, EventUserDeleted,
		EventSessionRevoked, EventSessionEnded, EventSessionRemoved,
		EventRoleCreated, EventRoleUpdated, EventRoleDeleted,
		EventPermissionCreated, EventPermissionUpdated, EventPermissionDeleted,
	}
}

var errMalformed = errors.New("malformed event")

// event is a decoded webhook: its type, and for a handled one the ids.
type event struct {
	typ       string
	kind      eventKind
	userID    string // membership, user, session
	orgID     string // membership, organization
	sessionID string // session
}

// decodeEvent reads Clerk's envelope {"type", "object": "event", "data"}
// and, for a handled type, the ids its effect needs. An unhandled type's
// data is not looked at. A handled type without its ids, or with ids that
// are not strings of 1–256 printable ASCII characters, is errMalformed (the
// type is still returned, for the metrics).
func decodeEvent(body []byte) (event, error) {
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Type == "" {
		return event{}, errMalformed
	}
	ev := event{typ: env.Type, kind: eventKinds[env.Type]}
	if ev.kind == kindIgnored {
		return ev, nil
	}
	if len(env.Data) == 0 || env.Data[0] != '{' {
		return ev, errMalformed
	}
	var ok bool
	switch ev.kind {
	case kindMembership:
		// OrganizationMembershipJSON
		var d struct {
			Organization struct {
				ID string `json:"id"`
			} `json:"organization"`
			PublicUserData struct {
				UserID string `json:"user_id"`
			} `json:"public_user_data"`
		}
		ok = json.Unmarshal(env.Data, &d) == nil
		ev.userID, ev.orgID = d.PublicUserData.UserID, d.Organization.ID
		ok = ok && validID(ev.userID) && validID(ev.orgID)
	case kindRoles:
		// RoleJSON / PermissionJSON, or DeletedObjectJSON when deleted:
		// only checked to be one, since every membership is forgotten.
		var d struct {
			ID string `json:"id"`
		}
		ok = json.Unmarshal(env.Data, &d) == nil && validID(d.ID)
	case kindOrganization, kindUser:
		// OrganizationJSON / UserJSON, or DeletedObjectJSON when deleted
		var d struct {
			ID string `json:"id"`
		}
		ok = json.Unmarshal(env.Data, &d) == nil && validID(d.ID)
		if ev.kind == kindOrganization {
			ev.orgID = d.ID
		} else {
			ev.userID = d.ID
		}
	case kindSession:
		// SessionWebhookEventJSON
		var d struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
		}
		ok = json.Unmarshal(env.Data, &d) == nil && validID(d.ID) && validID(d.UserID)
		ev.sessionID, ev.userID = d.ID, d.UserID
	case kindIgnored:
	}
	if !ok {
		return event{typ: ev.typ, kind: ev.kind}, errMalformed
	}
	return ev, nil
}

// maxID bounds svix-id and the ids taken from an event's data.
const maxID = 256

// validID: 1–256 printable ASCII characters, no spaces. Clerk's ids are a
// prefix, "_" and base62, Svix's "msg_" and base62; both are logged and
// used as keys.
func validID(id string) bool {
	if id == "" || len(id) > maxID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// apply calls the sink method of a handled event.
func (ev event) apply(ctx context.Context, sink Sink) error {
	switch ev.kind {
	case kindMembership:
		return sink.MembershipChanged(ctx, ev.userID, ev.orgID)
	case kindOrganization:
		return sink.OrganizationChanged(ctx, ev.orgID)
	case kindUser:
		return sink.UserChanged(ctx, ev.userID)
	case kindSession:
		return sink.SessionEnded(ctx, ev.sessionID, ev.userID)
	case kindRoles:
		return sink.RolesChanged(ctx)
	case kindIgnored:
	}
	return nil
}
