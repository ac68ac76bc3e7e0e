package clerk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// membershipPageSize is the Backend API's largest page (limit 1–500).
const membershipPageSize = 500

// maxMembershipPages bounds pagination (250 000 memberships), so a
// total_count that never comes true cannot keep us calling.
const maxMembershipPages = 500

// IsIdentifier reports whether s looks like a Clerk id or slug: 1 to 128
// of A-Z, a-z, 0-9, '_' and '-'. A user id that does not look like one
// never reaches a Backend API path. A loop rather than a regexp: a
// compiled {1,128} repetition keeps a pointerful program on the heap for
// the process's life, which every garbage collection cycle marks (heap at
// rest in bench/README.md).
func IsIdentifier(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// OrganizationMembership is a Backend API organization_membership object
// (the fields we use).
type OrganizationMembership struct {
	Object         string                 `json:"object"`
	ID             string                 `json:"id"`
	Role           string                 `json:"role"`
	RoleName       string                 `json:"role_name"`
	Permissions    []string               `json:"permissions"`
	Organization   MembershipOrganization `json:"organization"`
	PublicUserData MembershipUserData     `json:"public_user_data"`
	CreatedAt      int64                  `json:"created_at"`
	UpdatedAt      int64                  `json:"updated_at"`
}

// MembershipOrganization is the organization inside a membership.
type MembershipOrganization struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Slug   string `json:"slug"`
}

// MembershipUserData is public_user_data inside a membership.
type MembershipUserData struct {
	UserID     string `json:"user_id"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Identifier string `json:"identifier"`
	Username   string `json:"username"`
}

type membershipPage struct {
	Data       []OrganizationMembership `json:"data"`
	TotalCount int                      `json:"total_count"`
}

// UserOrganizationMemberships lists every organization membership of a
// user: GET /v1/users/{id}/organization_memberships, 500 per page, until
// total_count is reached. An unknown user is an *APIError with status 404
// (see IsNotFound).
func (a *API) UserOrganizationMemberships(ctx context.Context, userID string) ([]OrganizationMembership, error) {
	if !IsIdentifier(userID) {
		return nil, fmt.Errorf("user id %q is not a Clerk user id", userID)
	}
	var all []OrganizationMembership
	for page := 0; page < maxMembershipPages; page++ {
		q := url.Values{"limit": {strconv.Itoa(membershipPageSize)}, "offset": {strconv.Itoa(len(all))}}
		var p membershipPage
		if err := a.Get(ctx, "users/"+userID+"/organization_memberships", q, &p); err != nil {
			return nil, fmt.Errorf("list organization memberships: %w", err)
		}
		all = append(all, p.Data...)
		if len(p.Data) == 0 || len(all) >= p.TotalCount {
			return all, nil
		}
	}
	return nil, fmt.Errorf("list organization memberships: more than %d pages", maxMembershipPages)
}

// User is a Backend API user object (the fields we use).
type User struct {
	ID                    string         `json:"id"`
	Username              *string        `json:"username"`
	FirstName             *string        `json:"first_name"`
	LastName              *string        `json:"last_name"`
	PrimaryEmailAddressID *string        `json:"primary_email_address_id"`
	EmailAddresses        []EmailAddress `json:"email_addresses"`
}

// EmailAddress is one of a user's email addresses.
type EmailAddress struct {
	ID           string `json:"id"`
	EmailAddress string `json:"email_address"`
}

// PrimaryEmail is the primary email address, or "".
func (u *User) PrimaryEmail() string {
	if u.PrimaryEmailAddressID == nil {
		return ""
	}
	for _, e := range u.EmailAddresses {
		if e.ID == *u.PrimaryEmailAddressID {
			return e.EmailAddress
		}
	}
	return ""
}

// FullName is "first last", either alone when the other is unset, or "".
func (u *User) FullName() string {
	first, last := deref(u.FirstName), deref(u.LastName)
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// GetUser is GET /v1/users/{id}. An unknown user is an *APIError with
// status 404.
func (a *API) GetUser(ctx context.Context, userID string) (*User, error) {
	if !IsIdentifier(userID) {
		return nil, fmt.Errorf("user id %q is not a Clerk user id", userID)
	}
	var u User
	if err := a.Get(ctx, "users/"+userID, nil, &u); err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return &u, nil
}

// IsNotFound reports a Backend API 404 (resource_not_found).
func IsNotFound(err error) bool {
	e, ok := AsAPIError(err)
	return ok && e.Status == http.StatusNotFound
}

// RetryAfterOf is the back-off a 429 asks for; a 429 without Retry-After
// asks for one second, since Clerk's window is short.
func RetryAfterOf(err error) (d time.Duration) {
	e, ok := AsAPIError(err)
	if !ok || e.Status != http.StatusTooManyRequests {
		return 0
	}
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	return time.Second
}
