package charttest

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

const testMachineSecretKey = "ak_machine0123456789abcdef"

// CLERK_MACHINE_SECRET_KEY is a secret: it reaches the container only through a
// secretKeyRef (to the chart's Secret or to existingSecret), is absent when not given,
// and its value appears in no rendered file but the chart's own Secret.
func TestMachineSecretKeyComesOnlyFromASecret(t *testing.T) {
	checkSecretEnv(t, "CLERK_MACHINE_SECRET_KEY", testMachineSecretKey, []secretEnvCase{
		{name: "unset: absent, and not in the chart's Secret"},
		{
			name:       "chart-created secret",
			values:     "clerk: {machineSecretKey: " + testMachineSecretKey + "}",
			want:       &secretRef{fullname, "CLERK_MACHINE_SECRET_KEY", false},
			wantSecret: "CLERK_MACHINE_SECRET_KEY",
		},
		{
			name:       "chart-created secret with a custom key name",
			values:     "clerk: {machineSecretKey: " + testMachineSecretKey + "}\nsecretKeys: {machineSecretKey: clerk-machine}",
			want:       &secretRef{fullname, "clerk-machine", false},
			wantSecret: "clerk-machine",
		},
		{
			name:       "networkless with a machine key: JWT key and machine key, no secret key",
			values:     "clerk: {secretKey: \"\", jwtKey: " + quoteYAML(testJWTKey) + ", machineSecretKey: " + testMachineSecretKey + "}",
			want:       &secretRef{fullname, "CLERK_MACHINE_SECRET_KEY", false},
			wantSecret: "CLERK_MACHINE_SECRET_KEY",
		},
		{
			// Optional like CLERK_JWT_KEY: most Secrets will not hold one.
			name:   "existingSecret: read by its default key name, optionally",
			values: "existingSecret: vault-clerk",
			want:   &secretRef{"vault-clerk", "CLERK_MACHINE_SECRET_KEY", true},
		},
		{
			name:   "existingSecret with a custom key name",
			values: "existingSecret: vault-clerk\nsecretKeys: {machineSecretKey: clerk-machine}",
			want:   &secretRef{"vault-clerk", "clerk-machine", true},
		},
		{
			name:   "existingSecret with the key name emptied: not read",
			values: "existingSecret: vault-clerk\nsecretKeys: {machineSecretKey: \"\"}",
		},
		{
			// As with clerk.secretKey, a value next to existingSecret is ignored, and in
			// particular not turned into a plain env value.
			name:   "existingSecret ignores clerk.machineSecretKey",
			values: "existingSecret: vault-clerk\nclerk: {machineSecretKey: " + testMachineSecretKey + "}",
			want:   &secretRef{"vault-clerk", "CLERK_MACHINE_SECRET_KEY", true},
		},
	})
}

// Rotating the machine key in the chart's Secret rolls the pods, as for the other keys.
func TestMachineSecretKeyRotationRollsThePods(t *testing.T) {
	sum := func(v string) string {
		d := only[appsv1.Deployment](t, mustRender(t, baseValues, v), "Deployment")
		return d.Spec.Template.Annotations["checksum/secret"]
	}
	a := sum("clerk: {machineSecretKey: ak_one}")
	b := sum("clerk: {machineSecretKey: ak_two}")
	if a == "" || a == b {
		t.Errorf("checksum/secret %q -> %q: a new machine key would not reach running pods", a, b)
	}
}

// machineTokens.* become the MACHINE_TOKEN_* variables of the service's Configuration
// table; "" leaves the service's default; 0 is a setting and is passed, not dropped.
func TestMachineTokenSettingsBecomeTheEnvironment(t *testing.T) {
	names := []string{
		"MACHINE_TOKEN_CACHE_SIZE", "MACHINE_TOKEN_CACHE_TTL", "MACHINE_TOKEN_NEGATIVE_TTL",
		"MACHINE_TOKEN_STALE_WINDOW", "MACHINE_TOKEN_VERIFY_RATE",
	}
	checkPlainEnv(t, names, []plainEnvCase{
		{name: "defaults leave the service's own", values: ""},
		{
			name:   "every setting",
			values: "machineTokens: {cacheSize: 50000, cacheTTL: 1m, negativeTTL: 2s, staleWindow: 5m, verifyRate: 200}",
			want: map[string]string{
				"MACHINE_TOKEN_CACHE_SIZE":   "50000",
				"MACHINE_TOKEN_CACHE_TTL":    "1m",
				"MACHINE_TOKEN_NEGATIVE_TTL": "2s",
				"MACHINE_TOKEN_STALE_WINDOW": "5m",
				"MACHINE_TOKEN_VERIFY_RATE":  "200",
			},
		},
		{
			// verifyRate 0 = unbounded, staleWindow 0 = never serve stale: dropping them
			// would silently give 50 and 1m.
			name:   "zeroes are settings",
			values: "machineTokens: {verifyRate: 0, staleWindow: 0}",
			want:   map[string]string{"MACHINE_TOKEN_VERIFY_RATE": "0", "MACHINE_TOKEN_STALE_WINDOW": "0"},
		},
		{
			name:   "zero duration as a string",
			values: `machineTokens: {staleWindow: "0"}`,
			want:   map[string]string{"MACHINE_TOKEN_STALE_WINDOW": "0"},
		},
		{
			// A values file's numbers are float64; 1000000 must not become "1e+06".
			name:   "a large cache size is printed as an integer",
			values: "machineTokens: {cacheSize: 1000000}",
			want:   map[string]string{"MACHINE_TOKEN_CACHE_SIZE": "1000000"},
		},
	})

	// --set gives int64 rather than float64: same result.
	vals := values(t, baseValues)
	vals["machineTokens"] = map[string]any{"cacheSize": int64(2000000), "verifyRate": int64(0)}
	r, err := renderChart(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decode("deployment.yaml", r.files["clerk-forward-auth/templates/deployment.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	env := envByName(container(t, obj.typed.(*appsv1.Deployment)))
	for n, want := range map[string]string{"MACHINE_TOKEN_CACHE_SIZE": "2000000", "MACHINE_TOKEN_VERIFY_RATE": "0"} {
		if env[n].Value != want {
			t.Errorf("with --set values, %s = %q, want %q", n, env[n].Value, want)
		}
	}
}

// The schema's Go duration pattern accepts what the service's time.ParseDuration reads,
// unsigned, and nothing else: the schema neither refuses a working value nor lets
// through one the service cannot parse at start (signs are refused: a negative duration
// is refused by the service, and "+" is no one's intent).
func TestMachineTokenDurationPatternMatchesGo(t *testing.T) {
	var schema struct {
		Definitions map[string]struct {
			OneOf []struct {
				Type    string `json:"type"`
				Pattern string `json:"pattern"`
			} `json:"oneOf"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "values.schema.json")), &schema); err != nil {
		t.Fatal(err)
	}
	var pattern string
	for _, alt := range schema.Definitions["goDuration"].OneOf {
		if alt.Type == "string" {
			pattern = alt.Pattern
		}
	}
	if pattern == "" {
		t.Fatal("no string pattern in definitions.goDuration")
	}
	re := regexp.MustCompile(pattern)
	for _, s := range []string{
		"0", "30s", "1m", "1m30s", "1h2m3s", "500ms", "250us", "250µs", "250μs", "10ns",
		"1.5s", ".5s", "1.s", "0s", "0.0m", "10m",
		"-1s", "+1s", "-0", "1", "30", "1d", "1 s", "s", ".s", "1S", "30 seconds", "1m ", " 1m", "1.2.3s", "∞",
	} {
		d, err := time.ParseDuration(s)
		goAccepts := err == nil && d >= 0 && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "+")
		if got := re.MatchString(s); got != goAccepts {
			t.Errorf("%q: schema accepts=%v, Go parses it unsigned=%v (%v)", s, got, goAccepts, err)
		}
	}
}
