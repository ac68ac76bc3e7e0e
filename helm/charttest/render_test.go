package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "../clerk-forward-auth"
	releaseName = "cfa"
	namespace   = "auth"
	// fullname is what the chart names its objects for releaseName.
	fullname = "cfa-clerk-forward-auth"

	testPublishableKey = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"
	testSecretKey      = "sk_test_0123456789abcdef"
	testJWTKey         = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
)

// baseValues is the least a user must set: the two Clerk keys.
const baseValues = `
clerk:
  publishableKey: ` + testPublishableKey + `
  secretKey: ` + testSecretKey + `
`

var (
	loadOnce   sync.Once
	loadedErr  error
	loadedChrt *chart.Chart
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	loadOnce.Do(func() { loadedChrt, loadedErr = loader.Load(chartDir) })
	if loadedErr != nil {
		t.Fatalf("load chart: %v", loadedErr)
	}
	return loadedChrt
}

// values parses YAML documents the way `helm install -f` reads a values file and merges
// them, later documents winning.
func values(t *testing.T, docs ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, d := range docs {
		v, err := chartutil.ReadValues([]byte(d))
		if err != nil {
			t.Fatalf("bad test values %q: %v", d, err)
		}
		out = chartutil.MergeTables(v.AsMap(), out)
	}
	return out
}

// object is one rendered manifest, decoded.
type object struct {
	source     string // template that rendered it
	apiVersion string
	kind       string
	name       string
	namespace  string
	typed      any                        // *appsv1.Deployment, … for built-in kinds
	custom     *unstructured.Unstructured // for CRD kinds
}

type rendered struct {
	files   map[string]string
	objects []object
}

// builtIn maps each built-in kind the chart may render to its API version and Go type.
var builtIn = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Deployment":              {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"Service":                 {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount":          {"v1", func() any { return &corev1.ServiceAccount{} }},
	"Secret":                  {"v1", func() any { return &corev1.Secret{} }},
	"ConfigMap":               {"v1", func() any { return &corev1.ConfigMap{} }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return &autoscalingv2.HorizontalPodAutoscaler{} }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"NetworkPolicy":           {"networking.k8s.io/v1", func() any { return &networkingv1.NetworkPolicy{} }},
	"Ingress":                 {"networking.k8s.io/v1", func() any { return &networkingv1.Ingress{} }},
}

// customKinds are CRD kinds: decoded into unstructured, their fields checked by tests.
var customKinds = map[string]string{
	"ServiceMonitor": "monitoring.coreos.com/v1",
	"Middleware":     "traefik.io/v1alpha1",
}

// renderChart runs what `helm install` runs before talking to a cluster: coalesce the
// values, validate them against values.schema.json, render the templates. The error is
// the one the user would see.
func renderChart(t *testing.T, vals map[string]any) (rendered, error) {
	t.Helper()
	chrt := loadChart(t)
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(chrt, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return rendered{}, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return rendered{}, err
	}
	return rendered{files: files}, nil
}

// mustRender renders and strictly decodes every manifest, failing the test on any error.
func mustRender(t *testing.T, docs ...string) rendered {
	t.Helper()
	r, err := renderChart(t, values(t, docs...))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	names := make([]string, 0, len(r.files))
	for name := range r.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		docs := releaseutil.SplitManifests(r.files[name])
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			if strings.TrimSpace(docs[k]) == "" {
				continue
			}
			obj, err := decode(name, docs[k])
			if err != nil {
				t.Fatalf("%s: %v\n---\n%s", name, err, docs[k])
			}
			r.objects = append(r.objects, obj)
		}
	}
	return r
}

// decode reads one manifest strictly: an unknown field, a duplicate key or a wrong type
// is an error, as it would be for a typed client (and for `kubectl apply --validate=strict`).
func decode(source, doc string) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return object{}, fmt.Errorf("not YAML: %w", err)
	}
	obj := object{source: source, apiVersion: head.APIVersion, kind: head.Kind, name: head.Metadata.Name, namespace: head.Metadata.Namespace}
	if obj.name == "" {
		return obj, fmt.Errorf("%s without metadata.name", obj.kind)
	}
	if obj.namespace != namespace {
		return obj, fmt.Errorf("%s/%s in namespace %q, want the release namespace %q", obj.kind, obj.name, obj.namespace, namespace)
	}
	if b, ok := builtIn[head.Kind]; ok {
		if head.APIVersion != b.apiVersion {
			return obj, fmt.Errorf("%s has apiVersion %q, want %q", head.Kind, head.APIVersion, b.apiVersion)
		}
		obj.typed = b.new()
		if err := yaml.UnmarshalStrict([]byte(doc), obj.typed); err != nil {
			return obj, fmt.Errorf("strict decode into %T: %w", obj.typed, err)
		}
		return obj, nil
	}
	if want, ok := customKinds[head.Kind]; ok {
		if head.APIVersion != want {
			return obj, fmt.Errorf("%s has apiVersion %q, want %q", head.Kind, head.APIVersion, want)
		}
		m := map[string]any{}
		if err := yaml.UnmarshalStrict([]byte(doc), &m); err != nil {
			return obj, fmt.Errorf("decode %s: %w", head.Kind, err)
		}
		obj.custom = &unstructured.Unstructured{Object: m}
		return obj, nil
	}
	return obj, fmt.Errorf("unexpected kind %q (apiVersion %q)", head.Kind, head.APIVersion)
}

// kinds lists "Kind/name" of every rendered object, sorted.
func (r rendered) kinds() []string {
	out := make([]string, 0, len(r.objects))
	for _, o := range r.objects {
		out = append(out, o.kind+"/"+o.name)
	}
	sort.Strings(out)
	return out
}

func (r rendered) all(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// only returns the single object of a kind, typed.
func only[T any](t *testing.T, r rendered, kind string) *T {
	t.Helper()
	objs := r.all(kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d (rendered: %v)", kind, len(objs), r.kinds())
	}
	v, ok := objs[0].typed.(*T)
	if !ok {
		t.Fatalf("%s decoded as %T", kind, objs[0].typed)
	}
	return v
}

func onlyCustom(t *testing.T, r rendered, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := r.all(kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d (rendered: %v)", kind, len(objs), r.kinds())
	}
	return objs[0].custom
}

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, got %d", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	m := make(map[string]corev1.EnvVar, len(c.Env))
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, rel)) //nolint:gosec // a file of the chart under test, named by the test
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
