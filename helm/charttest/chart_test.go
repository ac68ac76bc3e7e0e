package charttest

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Every combination of optional parts renders only manifests that decode strictly into
// their API types, and exactly the objects that the switches ask for.
func TestEachFeatureRendersExactlyItsObjects(t *testing.T) {
	always := []string{
		"Deployment/" + fullname,
		"PodDisruptionBudget/" + fullname,
		"Service/" + fullname,
		"ServiceAccount/" + fullname,
	}
	tests := []struct {
		name   string
		values string
		want   []string // besides always
		absent []string
	}{
		{
			name: "defaults create the Secret and nothing optional",
			want: []string{"Secret/" + fullname},
		},
		{
			name:   "existingSecret creates no Secret",
			values: "existingSecret: my-clerk-keys",
			absent: []string{"Secret/" + fullname},
		},
		{
			name:   "autoscaling adds an HPA",
			values: "autoscaling: {enabled: true}",
			want:   []string{"Secret/" + fullname, "HorizontalPodAutoscaler/" + fullname},
		},
		{
			name:   "networkPolicy adds a NetworkPolicy",
			values: "networkPolicy: {enabled: true}",
			want:   []string{"Secret/" + fullname, "NetworkPolicy/" + fullname},
		},
		{
			name:   "serviceMonitor adds a ServiceMonitor",
			values: "metrics: {enabled: true, serviceMonitor: {enabled: true}}",
			want:   []string{"Secret/" + fullname, "ServiceMonitor/" + fullname},
		},
		{
			name:   "metrics alone adds no ServiceMonitor",
			values: "metrics: {enabled: true}",
			want:   []string{"Secret/" + fullname},
			absent: []string{"ServiceMonitor/" + fullname},
		},
		{
			name:   "policy rules add the policy ConfigMap",
			values: "policy: {rules: [{signed_in: true}]}",
			want:   []string{"Secret/" + fullname, "ConfigMap/" + fullname + "-policy"},
		},
		{
			name:   "traefik middleware adds one Middleware per policy",
			values: `traefik: {middleware: {enabled: true, additional: [{name: clerk-admins, query: "role=org:admin"}]}}`,
			want:   []string{"Secret/" + fullname, "Middleware/" + fullname, "Middleware/clerk-admins"},
		},
		{
			name:   "callbackIngress adds an Ingress",
			values: "callbackIngress: {enabled: true, hosts: [app.example.com]}",
			want:   []string{"Secret/" + fullname, "Ingress/" + fullname + "-callback"},
		},
		{
			name:   "pdb and service account can be turned off",
			values: "podDisruptionBudget: {enabled: false}\nserviceAccount: {create: false}",
			want:   []string{"Secret/" + fullname},
			absent: []string{"PodDisruptionBudget/" + fullname, "ServiceAccount/" + fullname},
		},
		{
			name: "everything on at once",
			values: `
existingSecret: my-clerk-keys
autoscaling: {enabled: true}
networkPolicy: {enabled: true}
metrics: {enabled: true, serviceMonitor: {enabled: true}}
grpc: {enabled: true}
policy: {rules: [{path: /public/, public: true}, {signed_in: true}]}
traefik: {middleware: {enabled: true}}
callbackIngress: {enabled: true, hosts: [app.example.com]}
`,
			want: []string{
				"ConfigMap/" + fullname + "-policy", "HorizontalPodAutoscaler/" + fullname,
				"Ingress/" + fullname + "-callback", "Middleware/" + fullname,
				"NetworkPolicy/" + fullname, "ServiceMonitor/" + fullname,
			},
			absent: []string{"Secret/" + fullname},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, baseValues, tt.values)
			got := r.kinds()
			want := append(slices.Clone(always), tt.want...)
			for _, a := range tt.absent {
				want = slices.DeleteFunc(want, func(s string) bool { return s == a })
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestDefaultDeploymentIsHardenedAndHighlyAvailable(t *testing.T) {
	r := mustRender(t, baseValues)
	d := only[appsv1.Deployment](t, r, "Deployment")
	pod := d.Spec.Template.Spec
	c := container(t, d)

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update must never take a pod down before its replacement is ready: %+v", d.Spec.Strategy)
	}

	// Pod and container security.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot must be true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile must be RuntimeDefault")
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"runAsUser is distroless nonroot (65532)", sc.RunAsUser != nil && *sc.RunAsUser == 65532},
		{"readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"privileged false", sc.Privileged == nil || !*sc.Privileged},
		{"capabilities drop ALL, add none", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
		{"seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"no service account token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("container security: %s", ch.what)
		}
	}

	// Resources: requests and limits for CPU and memory.
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim {
			t.Errorf("%s: want both request and limit, got request=%v limit=%v", name, okReq, okLim)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s request %s above limit %s", name, req.String(), lim.String())
		}
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("128Mi")) != 0 {
		t.Errorf("memory limit = %s, want 128Mi", got.String())
	}

	// Probes on the http port: liveness /healthz, readiness /readyz.
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v, want only http 8080", c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want httpGet, got %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe: got %s on %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
		if p.probe.TimeoutSeconds < 1 || p.probe.PeriodSeconds < 1 {
			t.Errorf("%s probe timings: %+v", p.name, p.probe)
		}
	}

	// Graceful shutdown: the preStop sleep fits inside the grace period with room to drain.
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 45 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 45", pod.TerminationGracePeriodSeconds)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("want a preStop sleep action (the image has no shell for exec), got %+v", c.Lifecycle)
	}
	if s := c.Lifecycle.PreStop.Sleep.Seconds; s <= 0 || s+30 > *pod.TerminationGracePeriodSeconds {
		t.Errorf("preStop sleep %ds leaves under 30s of the %ds grace period to drain", s, *pod.TerminationGracePeriodSeconds)
	}

	// Spread across nodes, counting only this release's pods.
	var byNode *corev1.TopologySpreadConstraint
	for i := range pod.TopologySpreadConstraints {
		if pod.TopologySpreadConstraints[i].TopologyKey == "kubernetes.io/hostname" {
			byNode = &pod.TopologySpreadConstraints[i]
		}
	}
	if byNode == nil {
		t.Fatalf("no topology spread across nodes: %+v", pod.TopologySpreadConstraints)
	}
	sel, err := metav1LabelSelector(byNode.LabelSelector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("spread constraint selector %v does not select the pods (%v)", byNode.LabelSelector, err)
	}

	// Image: the chart's appVersion by default.
	if want := "ghcr.io/clerk-forward-auth/clerk-forward-auth:" + loadChart(t).Metadata.AppVersion; c.Image != want {
		t.Errorf("image = %q, want %q", c.Image, want)
	}
}

func TestPodsCanBeSelectedByServiceAndBudget(t *testing.T) {
	r := mustRender(t, baseValues)
	d := only[appsv1.Deployment](t, r, "Deployment")
	pods := labels.Set(d.Spec.Template.Labels)

	sel, err := metav1LabelSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(pods) {
		t.Errorf("deployment selector does not match its pod template (%v)", err)
	}
	svc := only[corev1.Service](t, r, "Service")
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
		t.Errorf("service selector %v does not select pods %v", svc.Spec.Selector, pods)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service ports = %+v, want http 8080 -> http", svc.Spec.Ports)
	}
	pdb := only[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget")
	sel, err = metav1LabelSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(pods) {
		t.Errorf("PDB selector does not match the pods (%v)", err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB = %+v, want maxUnavailable 1 (drains never block on a single replica)", pdb.Spec)
	}
	if d.Spec.Template.Spec.ServiceAccountName != only[corev1.ServiceAccount](t, r, "ServiceAccount").Name {
		t.Error("pod does not run as the chart's service account")
	}
}

func TestPDBTakesMinAvailableInstead(t *testing.T) {
	r := mustRender(t, baseValues, `podDisruptionBudget: {minAvailable: "50%"}`)
	pdb := only[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.String() != "50%" || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB spec = %+v, want only minAvailable 50%%", pdb.Spec)
	}
}

// The Clerk keys reach the container by the names in docs/architecture.md, from a Secret,
// never as plain values (except a publishable key the user chose to give as a value).
func TestClerkKeysAreWiredFromTheSecret(t *testing.T) {
	type ref struct{ secret, key string }
	tests := []struct {
		name       string
		values     string
		wantRefs   map[string]ref    // env name -> secretKeyRef
		wantValues map[string]string // env name -> plain value
		wantAbsent []string
		wantSecret map[string]string // chart-created Secret data; nil = no Secret
	}{
		{
			name: "chart-created secret holds the keys it was given",
			wantRefs: map[string]ref{
				"CLERK_SECRET_KEY":      {fullname, "CLERK_SECRET_KEY"},
				"CLERK_PUBLISHABLE_KEY": {fullname, "CLERK_PUBLISHABLE_KEY"},
			},
			wantAbsent: []string{"CLERK_JWT_KEY"},
			wantSecret: map[string]string{"CLERK_SECRET_KEY": testSecretKey, "CLERK_PUBLISHABLE_KEY": testPublishableKey},
		},
		{
			name:   "networkless: JWT key without a secret key",
			values: "clerk: {secretKey: \"\", jwtKey: " + quoteYAML(testJWTKey) + "}",
			wantRefs: map[string]ref{
				"CLERK_JWT_KEY":         {fullname, "CLERK_JWT_KEY"},
				"CLERK_PUBLISHABLE_KEY": {fullname, "CLERK_PUBLISHABLE_KEY"},
			},
			wantAbsent: []string{"CLERK_SECRET_KEY"},
			wantSecret: map[string]string{"CLERK_JWT_KEY": testJWTKey, "CLERK_PUBLISHABLE_KEY": testPublishableKey},
		},
		{
			name:   "chart-created secret with custom key names",
			values: "secretKeys: {secretKey: sk, publishableKey: pk}",
			wantRefs: map[string]ref{
				"CLERK_SECRET_KEY":      {fullname, "sk"},
				"CLERK_PUBLISHABLE_KEY": {fullname, "pk"},
			},
			wantSecret: map[string]string{"sk": testSecretKey, "pk": testPublishableKey},
		},
		{
			name:   "existingSecret with custom keys, publishable key as a plain value",
			values: "existingSecret: vault-clerk\nsecretKeys: {secretKey: clerk-sk, jwtKey: clerk-jwt}",
			wantRefs: map[string]ref{
				"CLERK_SECRET_KEY": {"vault-clerk", "clerk-sk"},
				"CLERK_JWT_KEY":    {"vault-clerk", "clerk-jwt"},
			},
			wantValues: map[string]string{"CLERK_PUBLISHABLE_KEY": testPublishableKey},
		},
		{
			name:   "existingSecret holds all three keys",
			values: "existingSecret: vault-clerk\nclerk: {publishableKey: \"\", secretKey: \"\"}",
			wantRefs: map[string]ref{
				"CLERK_SECRET_KEY":      {"vault-clerk", "CLERK_SECRET_KEY"},
				"CLERK_PUBLISHABLE_KEY": {"vault-clerk", "CLERK_PUBLISHABLE_KEY"},
				"CLERK_JWT_KEY":         {"vault-clerk", "CLERK_JWT_KEY"},
			},
		},
		{
			name:       "existingSecret without a JWT key entry",
			values:     "existingSecret: vault-clerk\nsecretKeys: {jwtKey: \"\"}",
			wantRefs:   map[string]ref{"CLERK_SECRET_KEY": {"vault-clerk", "CLERK_SECRET_KEY"}},
			wantValues: map[string]string{"CLERK_PUBLISHABLE_KEY": testPublishableKey},
			wantAbsent: []string{"CLERK_JWT_KEY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, baseValues, tt.values)
			d := only[appsv1.Deployment](t, r, "Deployment")
			env := envByName(container(t, d))
			for name, want := range tt.wantRefs {
				e, ok := env[name]
				if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s: want a secretKeyRef, got %+v", name, e)
					continue
				}
				if got := (ref{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}); got != want {
					t.Errorf("%s: secretKeyRef %+v, want %+v", name, got, want)
				}
			}
			for name, want := range tt.wantValues {
				if e := env[name]; e.Value != want || e.ValueFrom != nil {
					t.Errorf("%s = %+v, want plain value %q", name, e, want)
				}
			}
			for _, name := range tt.wantAbsent {
				if _, ok := env[name]; ok {
					t.Errorf("%s is set, want it absent", name)
				}
			}
			secrets := r.all("Secret")
			if tt.wantSecret == nil {
				if len(secrets) != 0 {
					t.Fatalf("chart created a Secret next to existingSecret")
				}
				if _, ok := d.Spec.Template.Annotations["checksum/secret"]; ok {
					t.Error("checksum/secret annotation without a chart-created Secret")
				}
				return
			}
			s := only[corev1.Secret](t, r, "Secret")
			got := map[string]string{}
			for k, v := range s.Data {
				got[k] = string(v)
			}
			if !mapsEqual(got, tt.wantSecret) {
				t.Errorf("Secret data = %v, want %v", got, tt.wantSecret)
			}
			if d.Spec.Template.Annotations["checksum/secret"] == "" {
				t.Error("no checksum/secret annotation: rotating a key would not roll the pods")
			}
		})
	}
}

// Values map to the environment variables docs/architecture.md names; unset values leave the
// service's own defaults alone.
func TestSettingsBecomeTheDocumentedEnvironment(t *testing.T) {
	r := mustRender(t, baseValues, `
clerk:
  apiUrl: https://api.clerk.example
  apiVersion: v1
  authorizedParties: [https://app.example.com, https://admin.example.com]
  jwtAudience: [https://api.example.com, urn:example:reports]
  jwtIssuer: [https://clerk.example.com]
  signInUrl: https://accounts.example.com/sign-in
  proxyUrl: https://example.com/__clerk
config:
  allowedRedirectHosts: [example.com, "*.example.com"]
  trustedProxies: [10.0.0.0/8, 192.168.0.0/16]
  allowCorsPreflight: true
  callbackPath: /_clerk/callback
logLevel: debug
logFormat: text
metrics: {enabled: true, port: 9100}
grpc: {enabled: true, port: 9191}
extraEnv:
  - {name: MEMBERSHIP_CACHE_TTL, value: 2m}
`)
	c := container(t, only[appsv1.Deployment](t, r, "Deployment"))
	env := envByName(c)
	want := map[string]string{
		"LISTEN_ADDR":              ":8080",
		"METRICS_ADDR":             ":9100",
		"GRPC_LISTEN_ADDR":         ":9191",
		"CLERK_API_URL":            "https://api.clerk.example",
		"CLERK_API_VERSION":        "v1",
		"CLERK_AUTHORIZED_PARTIES": "https://app.example.com,https://admin.example.com",
		"CLERK_JWT_AUDIENCE":       "https://api.example.com,urn:example:reports",
		"CLERK_JWT_ISSUER":         "https://clerk.example.com",
		"CLERK_SIGN_IN_URL":        "https://accounts.example.com/sign-in",
		"CLERK_PROXY_URL":          "https://example.com/__clerk",
		"ALLOWED_REDIRECT_HOSTS":   "example.com,*.example.com",
		"TRUSTED_PROXIES":          "10.0.0.0/8,192.168.0.0/16",
		"ALLOW_CORS_PREFLIGHT":     "true",
		"CALLBACK_PATH":            "/_clerk/callback",
		"LOG_LEVEL":                "debug",
		"LOG_FORMAT":               "text",
		"MEMBERSHIP_CACHE_TTL":     "2m",
	}
	for name, v := range want {
		if got := env[name]; got.Value != v {
			t.Errorf("%s = %q, want %q", name, got.Value, v)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8080 || ports["metrics"] != 9100 || ports["grpc"] != 9191 {
		t.Errorf("container ports = %v", ports)
	}
	svcPorts := map[string]int32{}
	for _, p := range only[corev1.Service](t, r, "Service").Spec.Ports {
		svcPorts[p.Name] = p.Port
	}
	if svcPorts["http"] != 8080 || svcPorts["metrics"] != 9100 || svcPorts["grpc"] != 9191 {
		t.Errorf("service ports = %v", svcPorts)
	}

	// With defaults, optional settings are not set at all.
	def := envByName(container(t, only[appsv1.Deployment](t, mustRender(t, baseValues), "Deployment")))
	for _, name := range []string{"METRICS_ADDR", "GRPC_LISTEN_ADDR", "CLERK_API_URL", "CLERK_AUTHORIZED_PARTIES", "CLERK_JWT_AUDIENCE", "CLERK_JWT_ISSUER", "CLERK_SIGN_IN_URL", "CLERK_PROXY_URL", "POLICY_FILE", "ALLOWED_REDIRECT_HOSTS", "TRUSTED_PROXIES", "ALLOW_CORS_PREFLIGHT", "CALLBACK_PATH"} {
		if e, ok := def[name]; ok {
			t.Errorf("default values set %s=%q; leave it to the service's default", name, e.Value)
		}
	}
	if def["GOMEMLIMIT"].ValueFrom == nil || def["GOMEMLIMIT"].ValueFrom.ResourceFieldRef == nil || def["GOMEMLIMIT"].ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT should follow the memory limit, got %+v", def["GOMEMLIMIT"])
	}
}

// Satellite domains come in two shapes, one satellite (isSatellite + domain) or a
// primary serving satellites (satelliteDomains); the switches are passed only when on.
func TestSatelliteSettingsBecomeTheEnvironment(t *testing.T) {
	names := []string{"CLERK_IS_SATELLITE", "CLERK_DOMAIN", "CLERK_SATELLITE_DOMAINS", "CLERK_SATELLITE_AUTO_SYNC"}
	checkPlainEnv(t, names, []plainEnvCase{
		{name: "defaults: a primary without satellites", values: ""},
		{
			// false is the service's default; leave it to the service.
			name:   "switches given as false are left out",
			values: "clerk: {isSatellite: false, satelliteAutoSync: false}",
		},
		{
			name:   "one satellite",
			values: "clerk: {isSatellite: true, domain: satellite.example.net, satelliteAutoSync: true}",
			want: map[string]string{
				"CLERK_IS_SATELLITE":        "true",
				"CLERK_DOMAIN":              "satellite.example.net",
				"CLERK_SATELLITE_AUTO_SYNC": "true",
			},
		},
		{
			name:   "a primary serving satellites",
			values: "clerk: {satelliteDomains: [satellite.example.net, other.example.org]}",
			want:   map[string]string{"CLERK_SATELLITE_DOMAINS": "satellite.example.net,other.example.org"},
		},
	})
}

// Organization sync patterns are lists in values and one comma-joined variable each.
func TestOrganizationSyncPatternsBecomeTheEnvironment(t *testing.T) {
	names := []string{"CLERK_ORGANIZATION_PATTERNS", "CLERK_PERSONAL_ACCOUNT_PATTERNS"}
	checkPlainEnv(t, names, []plainEnvCase{
		{name: "defaults: off", values: ""},
		{name: "empty lists are left out", values: "clerk: {organizationPatterns: [], personalAccountPatterns: []}"},
		{
			name:   "organization and personal-account patterns",
			values: `clerk: {organizationPatterns: [/orgs/:slug, "/orgs/:slug/(.*)"], personalAccountPatterns: [/me, "/me/(.*)"]}`,
			want: map[string]string{
				"CLERK_ORGANIZATION_PATTERNS":     "/orgs/:slug,/orgs/:slug/(.*)",
				"CLERK_PERSONAL_ACCOUNT_PATTERNS": "/me,/me/(.*)",
			},
		},
		{
			name:   "organization patterns alone",
			values: "clerk: {organizationPatterns: [/o/:id]}",
			want:   map[string]string{"CLERK_ORGANIZATION_PATTERNS": "/o/:id"},
		},
	})
}

// A policy change must reach running pods: the ConfigMap is mounted where POLICY_FILE
// points and its hash is on the pod template, so a new policy is a rollout.
func TestPolicyFileIsMountedAndRollsPodsOnChange(t *testing.T) {
	const policyA = `policy: {rules: [{host: app.example.com, path: /admin/, org: beta, role: org:admin}, {signed_in: true}]}`
	const policyB = `policy: {rules: [{host: app.example.com, path: /admin/, org: beta, role: org:member}, {signed_in: true}]}`

	checksum := func(t *testing.T, docs ...string) (string, rendered) {
		t.Helper()
		r := mustRender(t, docs...)
		return only[appsv1.Deployment](t, r, "Deployment").Spec.Template.Annotations["checksum/config"], r
	}
	sumA, r := checksum(t, baseValues, policyA)
	sumA2, _ := checksum(t, baseValues, policyA, "logLevel: debug")
	sumB, _ := checksum(t, baseValues, policyB)
	none, _ := checksum(t, baseValues)

	if sumA == "" || len(sumA) != 64 {
		t.Fatalf("checksum/config = %q, want a sha256", sumA)
	}
	if sumA != sumA2 {
		t.Error("checksum changed although the policy did not")
	}
	if sumA == sumB {
		t.Error("checksum unchanged although the policy changed: pods would keep the old policy")
	}
	if none != "" {
		t.Errorf("checksum/config = %q without a policy", none)
	}

	d := only[appsv1.Deployment](t, r, "Deployment")
	c := container(t, d)
	policyFile := envByName(c)["POLICY_FILE"].Value
	cm := only[corev1.ConfigMap](t, r, "ConfigMap")
	var vol *corev1.Volume
	for i := range d.Spec.Template.Spec.Volumes {
		if cmv := d.Spec.Template.Spec.Volumes[i].ConfigMap; cmv != nil && cmv.Name == cm.Name {
			vol = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if vol == nil {
		t.Fatalf("no volume from ConfigMap %s", cm.Name)
	}
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == vol.Name {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("policy volume not mounted read-only: %+v", mount)
	}
	key := strings.TrimPrefix(policyFile, mount.MountPath+"/")
	if key == policyFile || strings.Contains(key, "/") {
		t.Fatalf("POLICY_FILE %q is not a file in mount %s", policyFile, mount.MountPath)
	}
	body, ok := cm.Data[key]
	if !ok {
		t.Fatalf("POLICY_FILE names %q, ConfigMap has %v", key, cm.Data)
	}
	var parsed struct {
		Rules []map[string]any `json:"rules"`
	}
	if err := yamlUnmarshalStrict(body, &parsed); err != nil {
		t.Fatalf("policy file is not the documented shape: %v\n%s", err, body)
	}
	if len(parsed.Rules) != 2 || parsed.Rules[0]["role"] != "org:admin" || parsed.Rules[0]["org"] != "beta" || parsed.Rules[1]["signed_in"] != true {
		t.Errorf("policy rules = %v (order and keys must be kept)", parsed.Rules)
	}
}

func TestAutoscalingHandsReplicasToTheHPA(t *testing.T) {
	r := mustRender(t, baseValues, "autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 12, targetCPUUtilizationPercentage: 60}")
	d := only[appsv1.Deployment](t, r, "Deployment")
	if d.Spec.Replicas != nil {
		t.Errorf("deployment sets replicas=%d: every upgrade would reset the HPA's count", *d.Spec.Replicas)
	}
	hpa := only[autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler")
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v, want the Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 12 {
		t.Errorf("HPA bounds = %v..%d, want 3..12", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 {
		t.Fatalf("HPA metrics = %+v, want one CPU metric", hpa.Spec.Metrics)
	}
	m := hpa.Spec.Metrics[0]
	if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Name != corev1.ResourceCPU ||
		m.Resource.Target.Type != autoscalingv2.UtilizationMetricType || m.Resource.Target.AverageUtilization == nil || *m.Resource.Target.AverageUtilization != 60 {
		t.Errorf("HPA metric = %+v, want CPU utilization 60%%", m)
	}
}

func TestNetworkPolicyAdmitsOnlyTheIngressControllerNamespaces(t *testing.T) {
	tests := []struct {
		name        string
		values      string
		wantCallers []string
		wantPorts   []string
		wantMetrics []string // namespaces admitted to the metrics port; nil = no such rule
	}{
		{
			name:        "defaults admit ingress-nginx to the http port",
			values:      "networkPolicy: {enabled: true}",
			wantCallers: []string{"ingress-nginx"},
			wantPorts:   []string{"http"},
		},
		{
			name:        "traefik and istio gateway namespaces, grpc and metrics on",
			values:      "networkPolicy: {enabled: true, ingressNamespaces: [traefik, istio-system], metricsNamespaces: [prometheus]}\nmetrics: {enabled: true}\ngrpc: {enabled: true}",
			wantCallers: []string{"traefik", "istio-system"},
			wantPorts:   []string{"http", "grpc"},
			wantMetrics: []string{"prometheus"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, baseValues, tt.values)
			np := only[networkingv1.NetworkPolicy](t, r, "NetworkPolicy")
			d := only[appsv1.Deployment](t, r, "Deployment")
			sel, err := metav1LabelSelector(&np.Spec.PodSelector)
			if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("NetworkPolicy does not select the pods (%v)", err)
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policyTypes = %v, want [Ingress]", np.Spec.PolicyTypes)
			}
			wantRules := 1
			if tt.wantMetrics != nil {
				wantRules = 2
			}
			if len(np.Spec.Ingress) != wantRules {
				t.Fatalf("ingress rules = %d, want %d", len(np.Spec.Ingress), wantRules)
			}
			check := func(rule networkingv1.NetworkPolicyIngressRule, namespaces, ports []string) {
				t.Helper()
				if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil || rule.From[0].IPBlock != nil {
					t.Fatalf("from = %+v, want one namespaceSelector", rule.From)
				}
				ns := rule.From[0].NamespaceSelector
				if len(ns.MatchLabels) != 0 || len(ns.MatchExpressions) != 1 {
					t.Fatalf("namespaceSelector = %+v", ns)
				}
				ex := ns.MatchExpressions[0]
				if ex.Key != "kubernetes.io/metadata.name" || ex.Operator != "In" || !slices.Equal(ex.Values, namespaces) {
					t.Errorf("namespaceSelector = %+v, want kubernetes.io/metadata.name In %v", ex, namespaces)
				}
				var got []string
				for _, p := range rule.Ports {
					got = append(got, p.Port.String())
				}
				if !slices.Equal(got, ports) {
					t.Errorf("ports = %v, want %v", got, ports)
				}
			}
			check(np.Spec.Ingress[0], tt.wantCallers, tt.wantPorts)
			if tt.wantMetrics != nil {
				check(np.Spec.Ingress[1], tt.wantMetrics, []string{"metrics"})
			}
		})
	}
}

func TestServiceMonitorScrapesTheMetricsPort(t *testing.T) {
	r := mustRender(t, baseValues, "metrics: {enabled: true, serviceMonitor: {enabled: true, interval: 15s, labels: {release: kube-prometheus-stack}}}")
	sm := onlyCustom(t, r, "ServiceMonitor")
	svc := only[corev1.Service](t, r, "Service")

	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels = %v, want the extra release label", sm.GetLabels())
	}
	match, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if err != nil || len(match) == 0 || !labels.SelectorFromSet(match).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v, %v)", match, svc.Labels, err)
	}
	nsNames, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !slices.Equal(nsNames, []string{namespace}) {
		t.Errorf("namespaceSelector.matchNames = %v", nsNames)
	}
	eps, _, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if err != nil || len(eps) != 1 {
		t.Fatalf("endpoints = %v (%v)", eps, err)
	}
	ep, _ := eps[0].(map[string]any)
	if ep["port"] != "metrics" || ep["path"] != "/metrics" || ep["interval"] != "15s" {
		t.Errorf("endpoint = %v, want port metrics, path /metrics, interval 15s", ep)
	}
	onlyKeys(t, "ServiceMonitor endpoint", ep, "port", "path", "interval", "scrapeTimeout")
	hasMetricsPort := false
	for _, p := range svc.Spec.Ports {
		hasMetricsPort = hasMetricsPort || (p.Name == "metrics" && p.Port == 9090 && p.TargetPort == intstr.FromString("metrics"))
	}
	if !hasMetricsPort {
		t.Errorf("Service has no metrics port 9090: %+v", svc.Spec.Ports)
	}
	if env := envByName(container(t, only[appsv1.Deployment](t, r, "Deployment"))); env["METRICS_ADDR"].Value != ":9090" {
		t.Errorf("METRICS_ADDR = %q, want :9090", env["METRICS_ADDR"].Value)
	}
}

func TestTraefikMiddlewareForwardsToTheService(t *testing.T) {
	wantHeaders := []string{
		"X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Org-Id", "X-Auth-Org-Slug",
		"X-Auth-Org-Role", "X-Auth-Org-Permissions", "X-Auth-Actor-Id",
		"X-Auth-Token-Type", "X-Auth-Machine-Id", "X-Auth-Token-Id", "X-Auth-Scopes", "X-Auth-Client-Id",
	}
	base := "http://" + fullname + "." + namespace + ".svc:8080/forward-auth"
	r := mustRender(t, baseValues, `traefik: {middleware: {enabled: true, query: "org=acme", additional: [{name: clerk-admins, query: "role=org:admin"}, {name: clerk-public, query: "public=true"}]}}`)
	want := map[string]string{
		fullname:       base + "?org=acme",
		"clerk-admins": base + "?role=org:admin",
		"clerk-public": base + "?public=true",
	}
	mws := r.all("Middleware")
	if len(mws) != len(want) {
		t.Fatalf("got %d Middlewares, want %d", len(mws), len(want))
	}
	for _, mw := range mws {
		fa, ok, err := unstructured.NestedMap(mw.custom.Object, "spec", "forwardAuth")
		if !ok || err != nil {
			t.Fatalf("%s: no spec.forwardAuth (%v)", mw.name, err)
		}
		onlyKeys(t, "forwardAuth", fa, "address", "trustForwardHeader", "authResponseHeaders",
			"authResponseHeadersRegex", "preserveLocationHeader", "maxResponseBodySize", "addAuthCookiesToResponse")
		if spec, _, _ := unstructured.NestedMap(mw.custom.Object, "spec"); len(spec) != 1 {
			t.Errorf("%s: spec has %v, want only forwardAuth", mw.name, spec)
		}
		if fa["address"] != want[mw.name] {
			t.Errorf("%s: address = %v, want %s", mw.name, fa["address"], want[mw.name])
		}
		if fa["trustForwardHeader"] != true {
			t.Errorf("%s: trustForwardHeader = %v, want true", mw.name, fa["trustForwardHeader"])
		}
		hdrs, _, _ := unstructured.NestedStringSlice(mw.custom.Object, "spec", "forwardAuth", "authResponseHeaders")
		if !slices.Equal(hdrs, wantHeaders) {
			t.Errorf("%s: authResponseHeaders = %v, want %v", mw.name, hdrs, wantHeaders)
		}
	}
}

func TestCallbackIngressRoutesOnlyTheCallbackPath(t *testing.T) {
	r := mustRender(t, baseValues, "callbackIngress: {enabled: true, hosts: [app.example.com, admin.example.com], tls: [{hosts: [app.example.com], secretName: app-tls}]}")
	ing := only[networkingv1.Ingress](t, r, "Ingress")
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingressClassName = %v, want nginx", ing.Spec.IngressClassName)
	}
	if len(ing.Spec.Rules) != 2 || len(ing.Spec.TLS) != 1 {
		t.Fatalf("rules = %d, tls = %d; want 2 and 1", len(ing.Spec.Rules), len(ing.Spec.TLS))
	}
	for _, rule := range ing.Spec.Rules {
		paths := rule.HTTP.Paths
		if len(paths) != 1 || paths[0].Path != "/_auth/callback" || paths[0].PathType == nil || *paths[0].PathType != networkingv1.PathTypeExact {
			t.Errorf("%s: paths = %+v, want only Exact /_auth/callback", rule.Host, paths)
			continue
		}
		if b := paths[0].Backend.Service; b == nil || b.Name != fullname || b.Port.Name != "http" {
			t.Errorf("%s: backend = %+v, want %s:http", rule.Host, paths[0].Backend, fullname)
		}
	}
}

func TestImageDigestPinsTheImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	r := mustRender(t, baseValues, "image: {tag: \"1.2.3\", digest: \""+digest+"\"}")
	if got := container(t, only[appsv1.Deployment](t, r, "Deployment")).Image; got != "ghcr.io/clerk-forward-auth/clerk-forward-auth@"+digest {
		t.Errorf("image = %q", got)
	}
}

func TestCustomTopologySpreadDefaultsToThePods(t *testing.T) {
	r := mustRender(t, baseValues, "topologySpreadConstraints: [{maxSkew: 2, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}]")
	d := only[appsv1.Deployment](t, r, "Deployment")
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].MaxSkew != 2 || tsc[0].WhenUnsatisfiable != corev1.DoNotSchedule {
		t.Fatalf("constraints = %+v, want only the user's", tsc)
	}
	sel, err := metav1LabelSelector(tsc[0].LabelSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("labelSelector %v should default to the pods' labels (%v)", tsc[0].LabelSelector, err)
	}
}

// NOTES.txt is what a user reads after install: it must hand them working proxy settings.
func TestNotesGiveWorkingIngressSettings(t *testing.T) {
	r := mustRender(t, baseValues, "traefik: {middleware: {enabled: true}}")
	notes := r.files["clerk-forward-auth/templates/NOTES.txt"]
	for _, want := range []string{
		`nginx.ingress.kubernetes.io/auth-url: "http://` + fullname + `.auth.svc.cluster.local:8080/auth-request"`,
		`nginx.ingress.kubernetes.io/auth-response-headers: "X-Auth-User-Id,X-Auth-Session-Id,X-Auth-Org-Id,X-Auth-Org-Slug,X-Auth-Org-Role,X-Auth-Org-Permissions,X-Auth-Actor-Id,X-Auth-Token-Type,X-Auth-Machine-Id,X-Auth-Token-Id,X-Auth-Scopes,X-Auth-Client-Id,X-Auth-User-Email,X-Auth-User-Name"`,
		"401 with the sign-in/handshake target in the Location header",
		"traefik.ingress.kubernetes.io/router.middlewares: auth-" + fullname + "@kubernetescrd",
		"path_prefix /ext-authz",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}
