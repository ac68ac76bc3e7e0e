package authz

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// MachineTokens verifies machine credentials: API keys, M2M tokens and
// OAuth access tokens (MachineLookup). An error that is a definitive
// refusal is a *clerk.MachineError whose Temporary is false; any other
// error means the answer could not be had (the engine answers 503).
type MachineTokens interface {
	Machine(ctx context.Context, token string) (*clerk.Machine, error)
}

// authenticateAccepting is authenticateRequest on a route whose
// acceptsToken is not the default: one machine type
// (authenticateMachineRequestWithTokenInHeader), several types or any
// (authenticateAnyRequestWithTokenInHeader), in the SDK's order
// (tokens/request.ts). Machine tokens are read from the Authorization
// header alone, as the SDK reads them.
func (e *Engine) authenticateAccepting(ctx context.Context, c *authContext, accepts *Accepts) authState {
	token := c.tokenInHeader
	machineType, isMachine := e.headerTokenType(c)
	one, isOne := accepts.single()
	if !isOne && !accepts.any {
		// The SDK's array form: a credential of a type not listed (no
		// header token counts as a session token) is refused first.
		seen := clerk.TokenTypeSession
		if isMachine {
			seen = machineType
		}
		if !accepts.accepts(seen) {
			return out(clerk.ReasonTokenTypeMismatch, "the route does not accept "+string(seen))
		}
	}
	if token == "" {
		if isOne {
			return out(ReasonNoTokenInHeader, "the route accepts "+string(one)+" only")
		}
		return e.authenticateCookie(ctx, c)
	}
	if isOne {
		if !isMachine || machineType != one {
			return out(clerk.ReasonTokenTypeMismatch, "the route accepts "+string(one)+" only")
		}
		return e.verifyMachine(ctx, token)
	}
	if isMachine {
		if !accepts.accepts(machineType) {
			return out(clerk.ReasonTokenTypeMismatch, "the route does not accept "+string(machineType))
		}
		return e.verifyMachine(ctx, token)
	}
	return e.authenticateHeader(ctx, c)
}

// headerTokenType is the SDK's machine type of the header token, if it
// is one. It reads the token through inspect, which the session path
// shares, so a session token seen before costs a cache lookup and any
// other is decoded once.
func (e *Engine) headerTokenType(c *authContext) (clerk.TokenType, bool) {
	token := c.tokenInHeader
	if token == "" {
		return "", false
	}
	if strings.Count(token, ".") != 2 {
		return clerk.MachineTokenTypeOf(token, nil) // not a JWT: its prefix says
	}
	t := c.inspect(e.verifier, token)
	return clerk.MachineTokenTypeOf(token, t.jwt)
}

// verifyMachine asks the machine verifier. A refusal is signed out with
// Clerk's reason; an outage fails closed as 503, like a key outage.
func (e *Engine) verifyMachine(ctx context.Context, token string) authState {
	if e.machines == nil {
		return out(clerk.ReasonUnexpectedError, "machine tokens are not configured")
	}
	m, err := e.machines.Machine(ctx, token)
	if err == nil {
		return authState{status: signedIn, machine: m}
	}
	var me *clerk.MachineError
	if errors.As(err, &me) && !me.Temporary() {
		return out(me.Reason, err.Error())
	}
	reason := clerk.ReasonUnexpectedError
	switch {
	case errors.Is(err, errVerifyThrottled):
		reason = ReasonVerifyThrottled
	case me != nil:
		reason = me.Reason
	}
	return authState{status: keysUnavailable, reason: reason, message: err.Error()}
}

// authorizeMachine applies the rule to a verified machine credential.
// Scopes must all be held. Organization rules apply to whom the
// credential belongs to: a user (a user's API key, an OAuth token) is
// checked against that user's memberships, with no active organization;
// an organization's API key satisfies org= naming that organization's id
// and nothing else; an M2M token belongs to no organization.
func (e *Engine) authorizeMachine(ctx context.Context, rule *Rule, m *clerk.Machine) Decision {
	id := Identity{
		TokenType: m.Type,
		UserID:    m.UserID(),
		OrgID:     m.OrgID(),
		MachineID: m.MachineID(),
		TokenID:   m.ID,
		Scopes:    m.Scopes,
		ClientID:  m.ClientID,
	}
	if len(rule.Features) > 0 || len(rule.Plans) > 0 || rule.Reverification != nil {
		// Clerk's has() is false for every machine credential.
		return Decision{Outcome: Forbidden, Reason: ReasonNotForMachines, Message: "features, plans and reverification belong to sessions", Identity: id}
	}
	for _, want := range rule.Scopes {
		if !slices.Contains(m.Scopes, want) {
			return Decision{Outcome: Forbidden, Reason: ReasonScopeMissing, Message: "missing scope " + want, Identity: id}
		}
	}
	switch {
	case !rule.RequiresOrganization():
		return Decision{Outcome: Allow, Identity: id}
	case id.UserID != "":
		return e.authorizeOrgs(ctx, rule, id.UserID, nil, id)
	case id.OrgID != "":
		if len(rule.Roles) > 0 || len(rule.Permissions) > 0 {
			return Decision{Outcome: Forbidden, Reason: ReasonNotForMachines, Message: "an organization's API key holds no role or permission", Identity: id}
		}
		for _, org := range rule.Orgs {
			if org != id.OrgID {
				return Decision{Outcome: Forbidden, Reason: ReasonNotOrgMember, Message: "the API key belongs to another organization than " + org, Identity: id}
			}
		}
		return Decision{Outcome: Allow, Identity: id}
	}
	return Decision{Outcome: Forbidden, Reason: ReasonNotForMachines, Message: string(m.Type) + " of a machine belongs to no organization", Identity: id}
}
