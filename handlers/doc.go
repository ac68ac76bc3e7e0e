// Package handlers holds the HTTP adapters, one file per proxy dialect:
// forwardauth.go (Traefik forwardAuth, Caddy forward_auth), authrequest.go
// (NGINX auth_request, ingress-nginx), extauthz.go (Envoy ext_authz HTTP),
// and grpc.go (Envoy/Istio ext_authz gRPC: envoy.service.auth.v3 Check and
// the gRPC health service, served by NewGRPCServer on its own listener;
// it stays in this package to share the readers and render.go).
// Each reads only its own proxy's header family into an authz.Request,
// asks the authz.Engine, and renders the authz.Decision the way that proxy
// understands (render.go). The router (router.go) adds health and
// readiness; nothing here knows about JWTs.
//
//	h := handlers.NewRouter(handlers.Options{Engine: engine, Logger: logger})
//	http.ListenAndServe(":8080", h)
package handlers
