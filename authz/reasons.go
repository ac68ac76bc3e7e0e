package authz

import (
	"slices"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// Our reason strings for outcomes Clerk's SDK has no word for.
const (
	ReasonCORSPreflight clerk.Reason = "cors-preflight"
	// ReasonSessionPending is Clerk's own word; the alias keeps the
	// spelling in one place.
	ReasonSessionPending                 = clerk.ReasonSessionPending
	ReasonNotOrgMember      clerk.Reason = "not-organization-member"
	ReasonRoleMissing       clerk.Reason = "role-missing"
	ReasonPermissionMissing clerk.Reason = "permission-missing"
	ReasonNoActiveOrg       clerk.Reason = "no-active-organization"
	ReasonMembershipLookup  clerk.Reason = "membership-lookup-failed"
	ReasonInvalidRule       clerk.Reason = "invalid-policy"
	// ReasonScopeMissing: a scope= rule does not hold (a session token
	// carries no scopes).
	ReasonScopeMissing clerk.Reason = "scope-missing"
	// ReasonFeatureMissing, ReasonPlanMissing: a feature= or plan= rule
	// does not hold (Clerk's has() is false).
	ReasonFeatureMissing clerk.Reason = "feature-missing"
	ReasonPlanMissing    clerk.Reason = "plan-missing"
	// ReasonReverificationRequired: a reverification= rule does not hold;
	// the 403 carries Clerk's reverification error for the frontend.
	ReasonReverificationRequired clerk.Reason = "reverification-required"
	// ReasonNotForMachines: an organization rule that a machine credential
	// cannot satisfy (an M2M token belongs to no organization; an
	// organization's API key holds no role or permission).
	ReasonNotForMachines clerk.Reason = "rule-not-applicable-to-machine"
	// ReasonNoTokenInHeader is the SDK's own words when a route accepts
	// one machine type and the request has no Authorization token.
	ReasonNoTokenInHeader clerk.Reason = "No token in header"
	// ReasonVerifyThrottled: a machine credential not seen before could
	// not be verified because MACHINE_TOKEN_VERIFY_RATE was spent (503).
	ReasonVerifyThrottled clerk.Reason = "machine-token-verify-throttled"
	// ReasonBadProxyRequest is for a proxy's request that could not be
	// read into a Request (an adapter's 400), so no decision was made.
	ReasonBadProxyRequest clerk.Reason = "bad-proxy-request"
)

// reasons lists every reason this package declares (ReasonUserLookup is
// beside the profile lookup). With clerk.Reasons it is the metric label
// set (observe.ReasonLabel): a reason declared and not listed would be
// counted as "other", and observe's TestEveryReasonConstantIsKnown fails
// until it is listed.
var reasons = []clerk.Reason{
	ReasonCORSPreflight, ReasonNotOrgMember, ReasonRoleMissing, ReasonPermissionMissing,
	ReasonNoActiveOrg, ReasonMembershipLookup, ReasonInvalidRule, ReasonBadProxyRequest, ReasonUserLookup,
	ReasonScopeMissing, ReasonNotForMachines, ReasonNoTokenInHeader, ReasonVerifyThrottled,
	ReasonSessionRevoked, ReasonSessionCheck, ReasonFeatureMissing, ReasonPlanMissing, ReasonReverificationRequired,
}

// Reasons returns the reasons this package reports beyond clerk.Reasons.
func Reasons() []clerk.Reason { return slices.Clone(reasons) }
