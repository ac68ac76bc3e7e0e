// Package authz is the one place where access decisions are made. A proxy
// adapter (package handlers) turns its proxy's dialect into a Request; the
// Engine finds the Clerk session in it, authenticates it exactly as
// @clerk/backend authenticateRequest would (token sources, suffixed cookies,
// handshake, server-side refresh, dev-browser rules, loop guard), applies the route's Rule
// (public, signed in, organization, role, permission) and returns a
// Decision that the adapter renders for its proxy.
//
// The split mirrors @clerk/backend src/tokens: context.go reads the request
// once (authenticateContext.ts), authenticate.go is the procedure
// (request.ts), outcome.go the small closed set of results (authStatus.ts),
// handshake.go the handshake redirect (handshake.ts), refresh.go the
// refresh of an expired token (request.ts refreshToken). Keys, claims and
// verification live in package clerk.
//
//	engine := authz.NewEngine(authz.Config{PublishableKey: pk, ...}, verifier, nil)
//	d := engine.Decide(ctx, &authz.Request{Method: "GET", URL: u, Header: h})
//	switch d.Outcome { case authz.Allow: … }
package authz
