// Package envoygrpc holds the Envoy bootstrap for clerk-forward-auth's gRPC
// ext_authz mode (envoy.yaml) and a test that reads it, and the Istio
// provider in ../../istio/grpc-ext-authz.yaml, against Envoy's own API
// definitions: no Envoy binary can run here, so the test checks what Envoy
// would refuse at load time (unknown fields, failed validation rules) and
// the settings the service depends on.
package envoygrpc
