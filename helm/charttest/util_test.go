package charttest

import (
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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
