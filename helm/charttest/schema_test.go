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
		{"secret key with a trailing space", `clerk: {secretKey: "sk_live_abc "}`, "/clerk/secretKey"},
		{"machine secret key with a trailing space", `clerk: {machineSecretKey: "ak_abc "}`, "/clerk/machineSecretKey"},
		{"JWT key that is not a PEM public key", "clerk: {jwtKey: abc}", "/clerk/jwtKey"},
		{"API URL without a scheme", "clerk: {apiUrl: api.clerk.com}", "/clerk/apiUrl"},
		{"authorized parties as one string", "clerk: {authorizedParties: https://a.example.com}", "/clerk/authorizedParties"},
		{"authorized party with a trailing slash", "clerk: {authorizedParties: [https://a.example.com/]}", "/clerk/authorizedParties/0"},
		{"authorized party with capitals", "clerk: {authorizedParties: [https://App.example.com]}", "/clerk/authorizedParties/0"},
		{"JWT audience as one string", "clerk: {jwtAudience: https://api.example.com}", "/clerk/jwtAudience"},
		{"JWT audiences as one comma list", `clerk: {jwtAudience: ["https://a.example.com,https://b.example.com"]}`, "/clerk/jwtAudience/0"},
		{"JWT issuer with a space", `clerk: {jwtIssuer: ["https://clerk.example.com "]}`, "/clerk/jwtIssuer/0"},
		{"empty JWT issuer", `clerk: {jwtIssuer: [""]}`, "/clerk/jwtIssuer/0"},
		{"isSatellite as a string", `clerk: {isSatellite: "true"}`, "/clerk/isSatellite"},
		{"satellite auto-sync as a string", `clerk: {satelliteAutoSync: "yes"}`, "/clerk/satelliteAutoSync"},
		{"one satellite and a list of satellites", "clerk: {isSatellite: true, domain: satellite.example.net, satelliteDomains: [other.example.org]}", "/clerk/satelliteDomains"},
		{"satellite domains as one comma list", `clerk: {satelliteDomains: ["a.example.net,b.example.net"]}`, "/clerk/satelliteDomains/0"},
		{"misspelt satellite value", "clerk: {satelliteDomain: [a.example.net]}", "'satelliteDomain' not allowed"},
		{"organization patterns as one string", "clerk: {organizationPatterns: /orgs/:slug}", "/clerk/organizationPatterns"},
		{"organization patterns as one comma list", `clerk: {organizationPatterns: ["/orgs/:slug,/orgs/:slug/(.*)"]}`, "/clerk/organizationPatterns/0"},
		{"personal-account pattern without a leading slash", `clerk: {personalAccountPatterns: ["me"]}`, "/clerk/personalAccountPatterns/0"},
		{"protocol-relative proxy URL", "clerk: {proxyUrl: //evil.example.com/__clerk}", "/clerk/proxyUrl"},
		{"proxy URL without a scheme", "clerk: {proxyUrl: proxy.example.com/__clerk}", "/clerk/proxyUrl"},
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
		// The API server refuses a liveness probe whose successThreshold is not 1.
		{"liveness probe success threshold above 1", "livenessProbe: {successThreshold: 2}", "/livenessProbe/successThreshold"},
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
		// The service refuses these 0s at start: they would not turn the cache off.
		{"machine token cache size of 0", "machineTokens: {cacheSize: 0}", "/machineTokens/cacheSize"},
		{"machine token TTL of 0", "machineTokens: {cacheTTL: 0}", "/machineTokens/cacheTTL"},
		{"machine token TTL of 0s", "machineTokens: {cacheTTL: 0s}", "/machineTokens/cacheTTL"},
		{"machine token negative TTL of 0.0m", "machineTokens: {negativeTTL: 0.0m}", "/machineTokens/negativeTTL"},
		{"session check TTL of 0", `sessionCheck: {ttl: "0"}`, "/sessionCheck/ttl"},
		{"misspelt machine token setting", "machineTokens: {cacheTtl: 30s}", "'cacheTtl' not allowed"},
		{"unknown session check mode", "sessionCheck: {mode: sometimes}", "/sessionCheck/mode"},
		{"session check mode as a boolean", "sessionCheck: {mode: true}", "/sessionCheck/mode"},
		{"session check TTL that is not a Go duration", "sessionCheck: {ttl: 5 seconds}", "/sessionCheck/ttl"},
		{"session check TTL as a bare number", "sessionCheck: {ttl: 5}", "/sessionCheck/ttl"},
		{"negative session check TTL", "sessionCheck: {ttl: -5s}", "/sessionCheck/ttl"},
		{"misspelt session check setting", "sessionCheck: {TTL: 5s}", "'TTL' not allowed"},
		{"webhook secret that is not a whsec_", "webhooks: {signingSecret: " + testSecretKey + "}", "/webhooks/signingSecret"},
		{"webhook path without a leading slash", "webhooks: {path: hooks/clerk}", "/webhooks/path"},
		{"webhook path with a query", "webhooks: {path: \"/hooks?x=1\"}", "/webhooks/path"},
		{"redis secret key name emptied", "redis: {existingSecret: redis-auth, existingSecretKey: \"\"}", "/redis/existingSecretKey"},
		{"redis secret name that is no Kubernetes name", "redis: {existingSecret: Redis_Auth}", "/redis/existingSecret"},
		{"misspelt redis value", "redis: {URL: redis://redis:6379}", "'URL' not allowed"},
		// Refused by the templates' combination checks (cfa.validate).
		{"no publishable key", `clerk: {publishableKey: ""}`, "clerk.publishableKey is required"},
		{"neither secret key nor JWT key", `clerk: {secretKey: ""}`, "clerk.secretKey or clerk.jwtKey is required"},
		{"existingSecret without a publishable key source", "existingSecret: keys\nclerk: {publishableKey: \"\"}\nsecretKeys: {publishableKey: \"\"}", "secretKeys.publishableKey"},
		{"ServiceMonitor without metrics", "metrics: {serviceMonitor: {enabled: true}}", "metrics.serviceMonitor.enabled needs metrics.enabled"},
		{"metrics on the http port", "metrics: {enabled: true, port: 8080}", "metrics.port must differ"},
		{"HPA max below min", "autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}", "maxReplicas must be >="},
		{"HPA without a CPU request", "autoscaling: {enabled: true}\nresources: {requests: {cpu: null}}", "resources.requests.cpu"},
		{"callback ingress without hosts", "callbackIngress: {enabled: true}", "callbackIngress.hosts"},
		// The API server refuses a preStop sleep longer than the grace period; one as long
		// leaves no time after SIGTERM to drain.
		{"preStop sleep past the grace period", "terminationGracePeriodSeconds: 5", "preStopSleepSeconds (10) must be less than terminationGracePeriodSeconds (5)"},
		{"preStop sleep as long as the grace period", "terminationGracePeriodSeconds: 30\npreStopSleepSeconds: 30", "preStopSleepSeconds (30) must be less than terminationGracePeriodSeconds (30)"},
		{"machine secret key with nowhere to store it", "clerk: {machineSecretKey: ak_abc}\nsecretKeys: {machineSecretKey: \"\"}", "secretKeys.machineSecretKey is empty"},
		{"redis URL of another scheme", "redis: {url: \"http://redis:6379\"}", "redis.url must be redis://"},
		{"redis URL without a host", "redis: {url: \"redis:///0\"}", "redis.url must be redis://"},
		{"redis URL with nowhere to store it", "redis: {url: \"redis://redis:6379\"}\nsecretKeys: {redisUrl: \"\"}", "secretKeys.redisUrl is empty"},
		{"redis URL next to existingSecret would be dropped", "existingSecret: keys\nredis: {url: \"redis://redis:6379\"}", "redis.url is not stored with existingSecret"},
		{"redis URL and redis.existingSecret", "redis: {url: \"redis://redis:6379\", existingSecret: redis-auth}", "not both"},
		{"webhook secret with nowhere to store it", "webhooks: {signingSecret: whsec_abc}\nsecretKeys: {webhookSigningSecret: \"\"}", "secretKeys.webhookSigningSecret is empty"},
		{"webhook secret next to existingSecret would be dropped", "existingSecret: keys\nwebhooks: {signingSecret: whsec_abc}", "webhooks.signingSecret is not stored with existingSecret"},
		{"webhook path on the callback path", "webhooks: {path: /_auth/callback}", "webhooks.path /_auth/callback is taken"},
		{"webhook path on an auth route", "webhooks: {path: /forward-auth}", "webhooks.path /forward-auth is taken"},
		{"webhook path under ext-authz", "webhooks: {path: /ext-authz/hooks}", "webhooks.path /ext-authz/hooks is taken"},
		{"session check always without a secret key", "clerk: {secretKey: \"\", jwtKey: " + quoteYAML(testJWTKey) + "}\nsessionCheck: {mode: always}", "sessionCheck.mode always needs clerk.secretKey"},
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
		{"short grace period without a preStop sleep", "terminationGracePeriodSeconds: 5\npreStopSleepSeconds: 0"},
		{"liveness probe success threshold of 1", "livenessProbe: {successThreshold: 1}"},
		{"machine secret key", "clerk: {machineSecretKey: ak_0123456789abcdef}"},
		{"machine token settings", "machineTokens: {cacheSize: 50000, cacheTTL: 1m30s, negativeTTL: 2.5s, staleWindow: \"0\", verifyRate: 0}"},
		{"machine token stale window of 0 as a number", "machineTokens: {staleWindow: 0}"},
		{"machine token TTLs under a second", "machineTokens: {cacheTTL: 0.5s, negativeTTL: 0.25s}"},
		{"machine token durations in small units", "machineTokens: {cacheTTL: 500ms, negativeTTL: 250000us, staleWindow: .5s}"},
		{"redis URL in the chart's Secret", "redis: {url: \"redis://default:p%40ss@redis-master.redis.svc:6379/0\"}"},
		{"rediss URL with options", "redis: {url: \"rediss://redis.example.com:6380?dial_timeout=3s\"}"},
		{"redis URL from its own Secret next to existingSecret", "existingSecret: keys\nredis: {existingSecret: redis-auth, existingSecretKey: redis-url}"},
		{"webhooks with a path", "webhooks: {signingSecret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, path: /_auth/clerk-events}"},
		{"session check always", "sessionCheck: {mode: always, ttl: 30s}"},
		{"session check always with existingSecret", "existingSecret: keys\nsessionCheck: {mode: always}"},
		{"JWT audience and issuer", "clerk: {jwtAudience: [https://api.example.com, urn:example:reports], jwtIssuer: [https://clerk.example.com]}"},
		{"one satellite", "clerk: {isSatellite: true, domain: satellite.example.net, satelliteAutoSync: true}"},
		{"a primary serving satellites", "clerk: {satelliteDomains: [satellite.example.net, other.example.org], satelliteAutoSync: true}"},
		{"isSatellite false next to satellite domains", "clerk: {isSatellite: false, satelliteDomains: [satellite.example.net]}"},
		{"satellites behind a relative proxy URL", "clerk: {proxyUrl: /__clerk, satelliteDomains: [satellite.example.net]}"},
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
redis: {url: "rediss://default:secret@redis.example.com:6380/0"}
webhooks: {signingSecret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
sessionCheck: {mode: always, ttl: 5s}
`},
		{"existing secret", "existingSecret: clerk-keys"},
		{"existing secret and Redis's own", "existingSecret: clerk-keys\nredis: {existingSecret: redis-auth}"},
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
