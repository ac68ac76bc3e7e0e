package clerktest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The user routes, as Calls names them.
const (
	RouteUser            = "GET /v1/users/{id}"
	RouteUserMemberships = "GET /v1/users/{id}/organization_memberships"
)

// directory holds the fake instance's users and memberships.
type directory struct {
	mu          sync.Mutex
	users       map[string]*fakeUser
	orgs        map[string]*fakeOrg // by id
	memberships map[string][]*fakeMembership
}

type fakeUser struct {
	id, email, emailID, first, last string
	createdAt                       int64
}

type fakeOrg struct {
	id, slug, name string
	createdAt      int64
}

type fakeMembership struct {
	id          string
	org         *fakeOrg
	role        string
	permissions []string
	createdAt   int64
}

func (s *Server) userRoutes() {
	s.Handle(RouteUser, s.serveUser)
	s.Handle(RouteUserMemberships, s.serveUserMemberships)
}

// AddUser adds (or replaces) a user with a primary email address and names
// ("" leaves a field null, as Clerk does).
func (s *Server) AddUser(id, email, first, last string) {
	d := &s.directory
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addUser(id, email, first, last)
}

func (d *directory) addUser(id, email, first, last string) *fakeUser {
	if d.users == nil {
		d.users = map[string]*fakeUser{}
	}
	u := &fakeUser{id: id, email: email, emailID: NewID("idn"), first: first, last: last, createdAt: time.Now().UnixMilli()}
	d.users[id] = u
	return u
}

// AddMembership makes userID a member of the organization orgID (created
// with slug on first use; the user too, with no email or names) with role
// (e.g. "org:admin") and permissions (e.g. "org:invoices:read").
func (s *Server) AddMembership(userID, orgID, slug, role string, permissions ...string) {
	d := &s.directory
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.users[userID] == nil {
		d.addUser(userID, "", "", "")
	}
	if d.orgs == nil {
		d.orgs = map[string]*fakeOrg{}
		d.memberships = map[string][]*fakeMembership{}
	}
	org := d.orgs[orgID]
	if org == nil {
		org = &fakeOrg{id: orgID, slug: slug, name: slug, createdAt: time.Now().UnixMilli()}
		d.orgs[orgID] = org
	}
	for _, m := range d.memberships[userID] {
		if m.org.id == orgID {
			m.role, m.permissions = role, append([]string{}, permissions...)
			return
		}
	}
	d.memberships[userID] = append(d.memberships[userID], &fakeMembership{
		id: NewID("orgmem"), org: org, role: role, permissions: append([]string{}, permissions...), createdAt: time.Now().UnixMilli(),
	})
}

// RemoveMembership removes userID from the organization orgID.
func (s *Server) RemoveMembership(userID, orgID string) {
	d := &s.directory
	d.mu.Lock()
	defer d.mu.Unlock()
	ms := d.memberships[userID]
	for i, m := range ms {
		if m.org.id == orgID {
			d.memberships[userID] = append(ms[:i:i], ms[i+1:]...)
			return
		}
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	d := &s.directory
	d.mu.Lock()
	u := d.users[r.PathValue("id")]
	var user map[string]any
	if u != nil {
		user = u.json()
	}
	d.mu.Unlock()
	if user == nil {
		WriteError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
		return
	}
	WriteJSON(w, http.StatusOK, user)
}

func (u *fakeUser) json() map[string]any {
	emails := []map[string]any{}
	var primary any
	if u.email != "" {
		primary = u.emailID
		emails = append(emails, map[string]any{
			"object": "email_address", "id": u.emailID, "email_address": u.email,
			"verification": map[string]any{"status": "verified", "strategy": "email_code"},
			"linked_to":    []any{},
		})
	}
	return map[string]any{
		"object": "user", "id": u.id, "username": nil,
		"first_name": nullable(u.first), "last_name": nullable(u.last),
		"image_url": "https://img.clerk.com/placeholder", "has_image": false,
		"primary_email_address_id": primary, "primary_phone_number_id": nil, "primary_web3_wallet_id": nil,
		"email_addresses": emails, "phone_numbers": []any{}, "web3_wallets": []any{}, "external_accounts": []any{},
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"external_id": nil, "banned": false, "locked": false,
		"created_at": u.createdAt, "updated_at": u.createdAt, "last_sign_in_at": nil,
	}
}

// serveUserMemberships pages like the Backend API: limit 1–500 (default
// 10), offset ≥ 0 (default 0), 400 in Clerk's error shape otherwise.
func (s *Server) serveUserMemberships(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryInt(r, "limit", 10)
	if !ok || limit < 1 || limit > 500 {
		WriteError(w, http.StatusBadRequest, "form_param_value_invalid", "limit must be between 1 and 500")
		return
	}
	offset, ok := queryInt(r, "offset", 0)
	if !ok || offset < 0 {
		WriteError(w, http.StatusBadRequest, "form_param_value_invalid", "offset must be 0 or greater")
		return
	}
	d := &s.directory
	d.mu.Lock()
	u := d.users[r.PathValue("id")]
	var page []map[string]any
	total := 0
	if u != nil {
		ms := d.memberships[u.id]
		total = len(ms)
		for i := offset; i < len(ms) && i < offset+limit; i++ {
			page = append(page, ms[i].json(u))
		}
	}
	d.mu.Unlock()
	if u == nil {
		WriteError(w, http.StatusNotFound, "resource_not_found", "Resource not found")
		return
	}
	if page == nil {
		page = []map[string]any{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": page, "total_count": total})
}

func (m *fakeMembership) json(u *fakeUser) map[string]any {
	return map[string]any{
		"object": "organization_membership", "id": m.id,
		"role": m.role, "role_name": m.role,
		"permissions":      m.permissions,
		"public_metadata":  map[string]any{},
		"private_metadata": map[string]any{},
		"organization": map[string]any{
			"object": "organization", "id": m.org.id, "name": m.org.name, "slug": m.org.slug,
			"image_url": "", "has_image": false, "max_allowed_memberships": 0, "admin_delete_enabled": true,
			"public_metadata": map[string]any{}, "created_at": m.org.createdAt, "updated_at": m.org.createdAt,
		},
		"public_user_data": map[string]any{
			"user_id": u.id, "first_name": nullable(u.first), "last_name": nullable(u.last),
			"image_url": "https://img.clerk.com/placeholder", "has_image": false,
			"identifier": u.email, "username": nil,
		},
		"created_at": m.createdAt, "updated_at": m.createdAt,
	}
}

// queryInt reads an integer parameter; absent yields def.
func queryInt(r *http.Request, name string, def int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" && !r.URL.Query().Has(name) {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
