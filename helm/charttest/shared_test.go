package charttest

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Several replicas: REDIS_URL, CLERK_WEBHOOK_SIGNING_SECRET, WEBHOOK_PATH, SESSION_CHECK*.

const (
	testRedisURL      = "rediss://default:hunter2-redis@redis.example.internal:6380/1"
	testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// REDIS_URL may carry a password: it reaches the container only through a secretKeyRef
// (the chart's Secret, existingSecret, or redis.existingSecret), and is absent when unset.
func TestRedisURLComesOnlyFromASecret(t *testing.T) {
	url := "redis: {url: " + quoteYAML(testRedisURL) + "}"
	checkSecretEnv(t, "REDIS_URL", testRedisURL, []secretEnvCase{
		{name: "unset: absent, and not in the chart's Secret"},
		{
			name:       "chart-created secret",
			values:     url,
			want:       &secretRef{fullname, "REDIS_URL", false},
			wantSecret: "REDIS_URL",
		},
		{
			name:       "chart-created secret with a custom key name",
			values:     url + "\nsecretKeys: {redisUrl: redis-url}",
			want:       &secretRef{fullname, "redis-url", false},
			wantSecret: "redis-url",
		},
		{
			// Optional like CLERK_MACHINE_SECRET_KEY: most Secrets will not hold one.
			name:   "existingSecret: read by its default key name, optionally",
			values: "existingSecret: vault-clerk",
			want:   &secretRef{"vault-clerk", "REDIS_URL", true},
		},
		{
			name:   "existingSecret with a custom key name",
			values: "existingSecret: vault-clerk\nsecretKeys: {redisUrl: redis-url}",
			want:   &secretRef{"vault-clerk", "redis-url", true},
		},
		{
			name:   "existingSecret with the key name emptied: not read",
			values: "existingSecret: vault-clerk\nsecretKeys: {redisUrl: \"\"}",
		},
		{
			// The user named it: a missing key stops the pod (CreateContainerConfigError)
			// rather than silently running replicas that share nothing.
			name:   "redis.existingSecret: its default key, required",
			values: "redis: {existingSecret: redis-auth}",
			want:   &secretRef{"redis-auth", "REDIS_URL", false},
		},
		{
			name:   "redis.existingSecret with its own key name",
			values: "redis: {existingSecret: redis-auth, existingSecretKey: url}",
			want:   &secretRef{"redis-auth", "url", false},
		},
		{
			name:   "redis.existingSecret wins over existingSecret",
			values: "existingSecret: vault-clerk\nredis: {existingSecret: redis-auth, existingSecretKey: url}",
			want:   &secretRef{"redis-auth", "url", false},
		},
	})
}

// redis.caSecret mounts the CA from the user's Secret and names it in REDIS_CA_FILE; unset,
// neither the variable nor the volume exists.
func TestRedisClusterBecomesTheEnvironment(t *testing.T) {
	checkPlainEnv(t, []string{"REDIS_CLUSTER"}, []plainEnvCase{
		{name: "unset: one server or Sentinel"},
		{name: "false", values: "redis: {cluster: false}"},
		{name: "a cluster", values: "redis: {cluster: true}", want: map[string]string{"REDIS_CLUSTER": "true"}},
	})
}

func TestRedisCASecretIsMountedAndNamed(t *testing.T) {
	const file = "/etc/clerk-forward-auth-redis-ca/ca.pem"
	checkPlainEnv(t, []string{"REDIS_CA_FILE"}, []plainEnvCase{
		{name: "unset: the system roots alone"},
		{name: "a CA Secret", values: "redis: {caSecret: redis-ca}", want: map[string]string{"REDIS_CA_FILE": file}},
	})
	for _, tc := range []struct {
		name, values, wantKey string
	}{
		{"the default key", "redis: {caSecret: redis-ca}", "ca.crt"},
		{"its own key", "redis: {caSecret: redis-ca, caSecretKey: tls-ca.pem}", "tls-ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := only[appsv1.Deployment](t, mustRender(t, baseValues, tc.values), "Deployment")
			var found bool
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name != "redis-ca" {
					continue
				}
				found = true
				if v.Secret == nil || v.Secret.SecretName != "redis-ca" || len(v.Secret.Items) != 1 ||
					v.Secret.Items[0].Key != tc.wantKey || v.Secret.Items[0].Path != "ca.pem" {
					t.Fatalf("volume redis-ca: %+v, want Secret redis-ca's %s as ca.pem", v.VolumeSource, tc.wantKey)
				}
			}
			if !found {
				t.Fatal("no redis-ca volume")
			}
			c := container(t, d)
			var mounted bool
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == "redis-ca" && m.MountPath+"/ca.pem" == file && m.ReadOnly)
			}
			if !mounted {
				t.Fatalf("redis-ca is not mounted read-only where REDIS_CA_FILE points: %+v", c.VolumeMounts)
			}
		})
	}
	for _, v := range only[appsv1.Deployment](t, mustRender(t, baseValues, ""), "Deployment").Spec.Template.Spec.Volumes {
		if v.Name == "redis-ca" {
			t.Fatal("a redis-ca volume without redis.caSecret")
		}
	}
}

// CLERK_WEBHOOK_SIGNING_SECRET reaches the container only through a secretKeyRef (the
// chart's Secret or existingSecret), and is absent when unset.
func TestWebhookSigningSecretComesOnlyFromASecret(t *testing.T) {
	secret := "webhooks: {signingSecret: " + testWebhookSecret + "}"
	checkSecretEnv(t, "CLERK_WEBHOOK_SIGNING_SECRET", testWebhookSecret, []secretEnvCase{
		{name: "unset: absent, and not in the chart's Secret"},
		{
			name:       "chart-created secret",
			values:     secret,
			want:       &secretRef{fullname, "CLERK_WEBHOOK_SIGNING_SECRET", false},
			wantSecret: "CLERK_WEBHOOK_SIGNING_SECRET",
		},
		{
			name:       "chart-created secret with a custom key name",
			values:     secret + "\nsecretKeys: {webhookSigningSecret: clerk-whsec}",
			want:       &secretRef{fullname, "clerk-whsec", false},
			wantSecret: "clerk-whsec",
		},
		{
			name:       "with Redis too, each under its own key",
			values:     secret + "\nredis: {url: " + quoteYAML(testRedisURL) + "}",
			want:       &secretRef{fullname, "CLERK_WEBHOOK_SIGNING_SECRET", false},
			wantSecret: "CLERK_WEBHOOK_SIGNING_SECRET",
		},
		{
			name:   "existingSecret: read by its default key name, optionally",
			values: "existingSecret: vault-clerk",
			want:   &secretRef{"vault-clerk", "CLERK_WEBHOOK_SIGNING_SECRET", true},
		},
		{
			name:   "existingSecret with a custom key name",
			values: "existingSecret: vault-clerk\nsecretKeys: {webhookSigningSecret: clerk-whsec}",
			want:   &secretRef{"vault-clerk", "clerk-whsec", true},
		},
		{
			name:   "existingSecret with the key name emptied: not read",
			values: "existingSecret: vault-clerk\nsecretKeys: {webhookSigningSecret: \"\"}",
		},
	})
}

// A new Redis URL or webhook signing secret in the chart's Secret rolls the pods, as for
// the Clerk keys.
func TestSharedStateSecretRotationRollsThePods(t *testing.T) {
	sum := func(v string) string {
		t.Helper()
		d := only[appsv1.Deployment](t, mustRender(t, baseValues, v), "Deployment")
		return d.Spec.Template.Annotations["checksum/secret"]
	}
	for _, tt := range []struct{ what, a, b string }{
		{"Redis URL", "redis: {url: 'redis://:one@redis:6379'}", "redis: {url: 'redis://:two@redis:6379'}"},
		{"webhook signing secret", "webhooks: {signingSecret: whsec_one}", "webhooks: {signingSecret: whsec_two}"},
		{"webhook signing secret added", "", "webhooks: {signingSecret: whsec_one}"},
	} {
		if a, b := sum(tt.a), sum(tt.b); a == "" || a == b {
			t.Errorf("%s: checksum/secret %q -> %q: the new value would not reach running pods", tt.what, a, b)
		}
	}
}

// sessionCheck.* and webhooks.path become SESSION_CHECK, SESSION_CHECK_TTL and
// WEBHOOK_PATH as plain values; "" leaves the service's default.
func TestSessionCheckAndWebhookPathBecomeTheEnvironment(t *testing.T) {
	names := []string{"SESSION_CHECK", "SESSION_CHECK_TTL", "WEBHOOK_PATH"}
	checkPlainEnv(t, names, []plainEnvCase{
		{name: "defaults leave the service's own"},
		{
			name:   "always, with a TTL",
			values: "sessionCheck: {mode: always, ttl: 10s}",
			want:   map[string]string{"SESSION_CHECK": "always", "SESSION_CHECK_TTL": "10s"},
		},
		{
			name:   "never",
			values: "sessionCheck: {mode: never}",
			want:   map[string]string{"SESSION_CHECK": "never"},
		},
		{
			name:   "TTL in milliseconds",
			values: "sessionCheck: {mode: always, ttl: 1500ms}",
			want:   map[string]string{"SESSION_CHECK": "always", "SESSION_CHECK_TTL": "1500ms"},
		},
		{
			name:   "webhook path",
			values: "webhooks: {path: /_auth/clerk-events}",
			want:   map[string]string{"WEBHOOK_PATH": "/_auth/clerk-events"},
		},
	})
}

// Clerk POSTs its webhooks to the app's host: with callbackIngress the chart routes the
// webhook path to the service (past the app's auth-url) when webhooks may be on, and only
// the callback otherwise.
func TestCallbackIngressRoutesTheWebhookPathWhenWebhooksMayBeOn(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   []string
	}{
		{"no webhooks: the callback only", "", []string{"/_auth/callback"}},
		{"signing secret in the chart's Secret", "webhooks: {signingSecret: " + testWebhookSecret + "}", []string{"/_auth/callback", "/_auth/webhooks/clerk"}},
		{"existingSecret may hold one", "existingSecret: vault-clerk", []string{"/_auth/callback", "/_auth/webhooks/clerk"}},
		{"existingSecret not read for it", "existingSecret: vault-clerk\nsecretKeys: {webhookSigningSecret: \"\"}", []string{"/_auth/callback"}},
		{"custom paths", "webhooks: {signingSecret: " + testWebhookSecret + ", path: /hooks/clerk}\nconfig: {callbackPath: /cb}", []string{"/cb", "/hooks/clerk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, baseValues, "callbackIngress: {enabled: true, hosts: [app.example.com, admin.example.com]}\n"+tt.values)
			ing := only[networkingv1.Ingress](t, r, "Ingress")
			for _, rule := range ing.Spec.Rules {
				var got []string
				for _, p := range rule.HTTP.Paths {
					got = append(got, p.Path)
					if p.PathType == nil || *p.PathType != networkingv1.PathTypeExact {
						t.Errorf("%s %s: pathType %v, want Exact", rule.Host, p.Path, p.PathType)
					}
					if b := p.Backend.Service; b == nil || b.Name != fullname || b.Port.Name != "http" {
						t.Errorf("%s %s: backend %+v, want %s:http", rule.Host, p.Path, p.Backend, fullname)
					}
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("%s: paths %v, want %v", rule.Host, got, tt.want)
				}
			}
		})
	}
}

// NOTES say where REDIS_URL comes from and how to point Clerk's dashboard at the webhook
// route, and say nothing about either when both are off.
func TestNotesExplainRedisAndWebhooks(t *testing.T) {
	notes := func(v string) string {
		t.Helper()
		return mustRender(t, baseValues, v).files["clerk-forward-auth/templates/NOTES.txt"]
	}
	if n := notes(""); strings.Contains(n, "Several replicas") || strings.Contains(n, "REDIS_URL") {
		t.Errorf("NOTES mention Redis or webhooks with both off:\n%s", n)
	}
	for _, tt := range []struct {
		name, values string
		want, not    []string
	}{
		{
			name:   "both in the chart's Secret",
			values: "redis: {url: " + quoteYAML(testRedisURL) + "}\nwebhooks: {signingSecret: " + testWebhookSecret + "}",
			want: []string{
				"REDIS_URL from Secret " + fullname + ", key REDIS_URL",
				"https://<your app host>/_auth/webhooks/clerk",
				"organizationMembership.*", "session.revoked/ended/removed", "role.*, permission.*",
			},
			not: []string{"Without Redis"},
		},
		{
			name:   "webhooks without Redis on two replicas",
			values: "webhooks: {signingSecret: " + testWebhookSecret + ", path: /hooks/clerk}",
			want:   []string{"https://<your app host>/hooks/clerk", "Without Redis a webhook reaches only"},
			not:    []string{"REDIS_URL from"},
		},
		{
			name:   "redis.existingSecret",
			values: "redis: {existingSecret: redis-auth, existingSecretKey: url}",
			want:   []string{"REDIS_URL from Secret redis-auth, key url"},
			not:    []string{"Clerk webhooks"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := notes(tt.values)
			for _, w := range tt.want {
				if !strings.Contains(n, w) {
					t.Errorf("NOTES lack %q:\n%s", w, n)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(n, w) {
					t.Errorf("NOTES contain %q:\n%s", w, n)
				}
			}
		})
	}
}
