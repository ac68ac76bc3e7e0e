package clerk

import (
	"reflect"
	"testing"
)

func decodeClaims(t *testing.T, payload string) *Claims {
	t.Helper()
	var c Claims
	if err := c.unmarshal([]byte(payload)); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return &c
}

func TestActiveOrganization(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    *ActiveOrganization
		wantErr bool
	}{
		{
			name:    "v2 docs example A: masks 3 and 2",
			payload: `{"v":2,"o":{"id":"org_1","slg":"acme","rol":"admin","per":"manage,read","fpm":"3,2"},"fea":"o:dashboard,o:teams"}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:admin", Permissions: []string{"org:dashboard:manage", "org:dashboard:read", "org:teams:read"}},
		},
		{
			name:    "v2 SDK example B: masks 7 and 21",
			payload: `{"v":2,"o":{"id":"org_1","slg":"acme","rol":"member","per":"read,create,update,delete,revoke","fpm":"7,21"},"fea":"o:repositories,o:projects"}`,
			want: &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:member", Permissions: []string{
				"org:repositories:read", "org:repositories:create", "org:repositories:update",
				"org:projects:read", "org:projects:update", "org:projects:revoke"}},
		},
		{
			name:    "v2 user-scoped features are skipped, uo counts as org",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read,create,update,delete,revoke","fpm":"7,21,0"},"fea":"o:repositories,uo:projects,u:goldprofileborder"}`,
			want: &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{
				"org:repositories:read", "org:repositories:create", "org:repositories:update",
				"org:projects:read", "org:projects:update", "org:projects:revoke"}},
		},
		{
			name:    "v2 mask beyond 2^53 is read exactly",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"a,b","fpm":"18014398509481986"},"fea":"o:f"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{"org:f:b"}},
		},
		{
			name:    "v2 malformed mask grants nothing for its feature",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read","fpm":"-1,1"},"fea":"o:a,o:b"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin", Permissions: []string{"org:b:read"}},
		},
		{
			name:    "v2 missing fpm means no permissions",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read"},"fea":"o:a"}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin"},
		},
		{
			name:    "v2 org without rol has no role",
			payload: `{"v":2,"o":{"id":"org_1","slg":"s"}}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "s"},
		},
		{
			name:    "v2 ignores v1 org claims",
			payload: `{"v":2,"org_id":"org_v1","org_role":"org:admin"}`,
			want:    nil,
		},
		{
			name:    "v2 fea entry without colon fails closed",
			payload: `{"v":2,"o":{"id":"org_1","rol":"admin","per":"read","fpm":"1"},"fea":"dashboard"}`,
			wantErr: true,
		},
		{
			name:    "v1 claims",
			payload: `{"org_id":"org_1","org_slug":"acme","org_role":"org:admin","org_permissions":["org:a:read"]}`,
			want:    &ActiveOrganization{ID: "org_1", Slug: "acme", Role: "org:admin", Permissions: []string{"org:a:read"}},
		},
		{
			name:    "string v \"2\" is read as v1",
			payload: `{"v":"2","org_id":"org_1","org_role":"org:admin","o":{"id":"org_2"}}`,
			want:    &ActiveOrganization{ID: "org_1", Role: "org:admin"},
		},
		{
			name:    "no organization",
			payload: `{"v":2}`,
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeClaims(t, tt.payload).ActiveOrganization()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClaimOfWrongTypeIsRejected(t *testing.T) {
	var c Claims
	for _, p := range []string{`{"sub":5}`, `{"exp":"soon"}`, `{"o":"x"}`, `not json`, `{"exp":1e400}`} {
		if err := c.unmarshal([]byte(p)); err == nil {
			t.Errorf("payload %s decoded without error", p)
		}
	}
}
