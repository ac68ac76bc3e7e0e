package charttest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Nothing(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

func mapsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }

func yamlUnmarshalStrict(doc string, v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }

// quoteYAML renders s as a YAML (JSON) string scalar.
func quoteYAML(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		panic(err)
	}
	out, err := yaml.YAMLToJSON(b)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// onlyKeys fails when a custom resource map carries keys its CRD does not define (the
// unstructured decode accepts anything, the API server would prune or refuse it).
func onlyKeys(t *testing.T, what string, m map[string]any, allowed ...string) {
	t.Helper()
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: unexpected field %q (allowed %v)", what, k, allowed)
		}
	}
}

// plainEnvCase is one configuration of settings passed as plain env values.
type plainEnvCase struct {
	name   string
	values string
	want   map[string]string // env name -> value; names not listed must be absent
}

// checkPlainEnv renders each case and checks every one of names: set to
// exactly the wanted plain value, or absent so that the service's own default
// holds.
func checkPlainEnv(t *testing.T, names []string, tests []plainEnvCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := envByName(container(t, only[appsv1.Deployment](t, mustRender(t, baseValues, tt.values), "Deployment")))
			for _, n := range names {
				e, ok := env[n]
				want, wantOK := tt.want[n]
				if ok != wantOK || e.Value != want || e.ValueFrom != nil {
					t.Errorf("%s = %+v (set %v), want %q (set %v)", n, e, ok, want, wantOK)
				}
			}
		})
	}
}

// secretRef is where an env var must come from: a secretKeyRef and nothing else.
type secretRef struct {
	secret, key string
	optional    bool
}

// secretEnvCase is one configuration of a secret env var.
type secretEnvCase struct {
	name       string
	values     string
	want       *secretRef // nil = the variable is absent
	wantSecret string     // key under which the chart's Secret holds the value; "" = not in it
}

// checkSecretEnv renders each case and checks that env reaches the container only through
// the wanted secretKeyRef, that value is never a plain env value, and that value appears
// in no rendered file (NOTES included) but the chart's own Secret, under wantSecret.
func checkSecretEnv(t *testing.T, env, value string, tests []secretEnvCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, baseValues, tt.values)
			c := container(t, only[appsv1.Deployment](t, r, "Deployment"))

			var got *corev1.EnvVar
			for i := range c.Env {
				e := &c.Env[i]
				if strings.Contains(e.Value, value) {
					t.Errorf("%s carries the value of %s as a plain value", e.Name, env)
				}
				if e.Name != env {
					continue
				}
				if got != nil {
					t.Errorf("%s set twice", env)
				}
				got = e
			}
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("%s = %+v, want it absent", env, *got)
			case tt.want != nil && got == nil:
				t.Errorf("%s absent, want a secretKeyRef %+v", env, *tt.want)
			case tt.want != nil:
				if got.Value != "" || got.ValueFrom == nil || got.ValueFrom.SecretKeyRef == nil {
					t.Fatalf("%s = %+v, want only a secretKeyRef", env, *got)
				}
				sk := got.ValueFrom.SecretKeyRef
				if g := (secretRef{sk.Name, sk.Key, sk.Optional != nil && *sk.Optional}); g != *tt.want {
					t.Errorf("%s secretKeyRef = %+v, want %+v", env, g, *tt.want)
				}
			}

			for name, body := range r.files {
				if !strings.HasSuffix(name, "/secret.yaml") && strings.Contains(body, value) {
					t.Errorf("%s contains the value of %s in clear", name, env)
				}
			}
			if len(r.all("Secret")) == 0 {
				if tt.wantSecret != "" {
					t.Fatal("no chart-created Secret")
				}
				return
			}
			s := only[corev1.Secret](t, r, "Secret")
			for k, v := range s.Data {
				if string(v) == value && k != tt.wantSecret {
					t.Errorf("Secret holds the value of %s under %q, want %q", env, k, tt.wantSecret)
				}
			}
			if tt.wantSecret != "" && string(s.Data[tt.wantSecret]) != value {
				t.Errorf("Secret[%q] = %q, want the value of %s", tt.wantSecret, s.Data[tt.wantSecret], env)
			}
		})
	}
}
