package charttest

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// Bad values fail at `helm install`, with a message that points at the value, instead of
// producing a Deployment that crash-loops (or, worse, one that lets everyone in).
func TestInvalidValuesAreRefusedAtInstall(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr string // in the error the user sees: the value's path, or the template's message
	}{
		// Refused by values.schema.json.
		{"zero replicas", "replicaCount: 0", "/replicaCount"},
		{"replica count as a string", `replicaCount: "2"`, "/replicaCount"},
		{"image tag as a number", "image: {tag: 1.2}", "/image/tag"},
		{"secret key in the publishable key slot", "clerk: {publishableKey: sk_test_abc}", "/clerk/publishableKey"},
		{"publishable key of no known environment", "clerk: {publishableKey: pk_prod_abc}", "/clerk/publishableKey"},
		{"publishable key in the secret key slot", "clerk: {secretKey: " + testPublishableKey + "}", "/clerk/secretKey"},
		{"JWT key that is not a PEM public key", "clerk: {jwtKey: abc}", "/clerk/jwtKey"},
		{"API URL without a scheme", "clerk: {apiUrl: api.clerk.com}", "/clerk/apiUrl"},
		{"authorized parties as one string", "clerk: {authorizedParties: https://a.example.com}", "/clerk/authorizedParties"},
		{"unknown log level", "logLevel: verbose", "/logLevel"},
		{"unknown log format", "logFormat: xml", "/logFormat"},
		{"misspelt top-level value", "replicas: 3", "'replicas' not allowed"},
		{"misspelt policy key would silently weaken a rule", "policy: {rules: [{path: /admin/, rol: org:admin}]}", "'rol' not allowed"},
		{"policy path without a leading slash", "policy: {rules: [{path: admin/, signed_in: true}]}", "/policy/rules/0/path"},
		{"policy methods in lower case", "policy: {rules: [{methods: [get], public: true}]}", "/policy/rules/0/methods"},
		{"service port out of range", "service: {port: 70000}", "/service/port"},
		{"metrics port as a string", `metrics: {port: "9090"}`, "/metrics/port"},
		{"HPA target above 100%", "autoscaling: {enabled: true, targetCPUUtilizationPercentage: 150}", "/autoscaling/targetCPUUtilizationPercentage"},
		{"pull policy typo", "image: {pullPolicy: IfMissing}", "/image/pullPolicy"},
		{"digest that is not sha256", "image: {digest: latest}", "/image/digest"},
		{"middleware query with its own question mark", `traefik: {middleware: {query: "?org=acme"}}`, "/traefik/middleware/query"},
		{"network policy that admits no namespace", "networkPolicy: {enabled: true, ingressNamespaces: []}", "/networkPolicy/ingressNamespaces"},
		{"negative preStop sleep", "preStopSleepSeconds: -1", "/preStopSleepSeconds"},
		{"unknown probe field", "livenessProbe: {initialDelay: 5}", "'initialDelay' not allowed"},
		{"secret key in the machine secret key slot", "clerk: {machineSecretKey: " + testSecretKey + "}", "/clerk/machineSecretKey"},
		{"machine secret key name with a space", `secretKeys: {machineSecretKey: "machine key"}`, "/secretKeys/machineSecretKey"},
		{"machine token TTL that is not a Go duration", "machineTokens: {cacheTTL: 30 seconds}", "/machineTokens/cacheTTL"},
		{"machine token TTL in days", "machineTokens: {cacheTTL: 1d}", "/machineTokens/cacheTTL"},
		{"negative machine token stale window", "machineTokens: {staleWindow: -1m}", "/machineTokens/staleWindow"},
		{"machine token TTL as a bare number", "machineTokens: {negativeTTL: 5}", "/machineTokens/negativeTTL"},
		{"negative machine token verify rate", "machineTokens: {verifyRate: -1}", "/machineTokens/verifyRate"},
		{"machine token verify rate as a string", `machineTokens: {verifyRate: "50"}`, "/machineTokens/verifyRate"},
		{"fractional machine token cache size", "machineTokens: {cacheSize: 10.5}", "/machineTokens/cacheSize"},
		{"negative machine token cache size", "machineTokens: {cacheSize: -1}", "/machineTokens/cacheSize"},
		{"misspelt machine token setting", "machineTokens: {cacheTtl: 30s}", "'cacheTtl' not allowed"},
		// Refused by the templates' combination checks (cfa.validate).
		{"no publishable key", `clerk: {publishableKey: ""}`, "clerk.publishableKey is required"},
		{"neither secret key nor JWT key", `clerk: {secretKey: ""}`, "clerk.secretKey or clerk.jwtKey is required"},
		{"existingSecret without a publishable key source", "existingSecret: keys\nclerk: {publishableKey: \"\"}\nsecretKeys: {publishableKey: \"\"}", "secretKeys.publishableKey"},
		{"ServiceMonitor without metrics", "metrics: {serviceMonitor: {enabled: true}}", "metrics.serviceMonitor.enabled needs metrics.enabled"},
		{"metrics on the http port", "metrics: {enabled: true, port: 8080}", "metrics.port must differ"},
		{"HPA max below min", "autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}", "maxReplicas must be >="},
		{"HPA without a CPU request", "autoscaling: {enabled: true}\nresources: {requests: {cpu: null}}", "resources.requests.cpu"},
		{"callback ingress without hosts", "callbackIngress: {enabled: true}", "callbackIngress.hosts"},
		{"machine secret key with nowhere to store it", "clerk: {machineSecretKey: ak_abc}\nsecretKeys: {machineSecretKey: \"\"}", "secretKeys.machineSecretKey is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderChart(t, values(t, baseValues, tt.values))
			if err == nil {
				t.Fatalf("values accepted:\n%s", tt.values)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error does not name %q:\n%v", tt.wantErr, err)
			}
		})
	}
}

// The counterpart: realistic values of every shape the schema allows are accepted, so the
// refusals above are about the bad value and not a schema that refuses everything.
func TestValidValuesAreAccepted(t *testing.T) {
	tests := []struct{ name, values string }{
		{"minimal", ""},
		{"live keys", "clerk: {publishableKey: pk_live_Y2xlcmsuZXhhbXBsZS5jb20k, secretKey: sk_live_abc}"},
		{"JWT key instead of secret key", "clerk: {secretKey: \"\", jwtKey: " + quoteYAML(testJWTKey) + "}"},
		{"policy with lists", "policy: {rules: [{host: \"*.example.com\", path: /admin/, methods: [GET, POST], org: [acme, beta], role: org:admin, permission: [org:invoices:read]}, {signed_in: true}]}"},
		{"PDB as a percentage", `podDisruptionBudget: {maxUnavailable: "25%"}`},
		{"one replica", "replicaCount: 1"},
		{"extra env and envFrom", "extraEnv: [{name: CACHE_TTL, value: 1m}, {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]\nextraEnvFrom: [{configMapRef: {name: extra}}]"},
		{"preStop sleep off", "preStopSleepSeconds: 0"},
		{"machine secret key", "clerk: {machineSecretKey: ak_0123456789abcdef}"},
		{"machine token settings", "machineTokens: {cacheSize: 50000, cacheTTL: 1m30s, negativeTTL: 2.5s, staleWindow: \"0\", verifyRate: 0}"},
		{"machine token zero durations as numbers", "machineTokens: {cacheTTL: 0, negativeTTL: 0, staleWindow: 0}"},
		{"machine token durations in small units", "machineTokens: {cacheTTL: 500ms, negativeTTL: 250000us, staleWindow: .5s}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustRender(t, baseValues, tt.values)
		})
	}
}

// `helm lint`, in-process, for the default and a fully featured configuration.
func TestChartPassesHelmLint(t *testing.T) {
	tests := []struct{ name, values string }{
		{"minimal values", baseValues},
		{"everything on", baseValues + `
autoscaling: {enabled: true}
networkPolicy: {enabled: true}
metrics: {enabled: true, serviceMonitor: {enabled: true}}
grpc: {enabled: true}
policy: {rules: [{path: /public/, public: true}, {signed_in: true}]}
traefik: {middleware: {enabled: true}}
callbackIngress: {enabled: true, hosts: [app.example.com]}
`},
		{"existing secret", "existingSecret: clerk-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lint.AllWithKubeVersionAndSchemaValidation(chartDir, values(t, tt.values), namespace, nil, false)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m.Error())
				} else {
					t.Log(m.Error())
				}
			}
		})
	}
}
