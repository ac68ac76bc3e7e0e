// Package authztest is test wiring of a fake Clerk, a verifier and an
// engine: the setup every test of authz, handlers and main repeated (fake
// Clerk instance, Backend API client, key source, clerk.Verifier,
// authz.Engine), in one constructor.
//
//	env := authztest.New(t, authztest.Options{})
//	token := env.Token("user_1", nil)
//	d := env.Engine.Decide(ctx, env.Request("GET", "Authorization", "Bearer "+token))
//
// It does not import handlers, so the handlers package's own tests can use
// it; tests inside package authz cannot (import cycle).
package authztest
