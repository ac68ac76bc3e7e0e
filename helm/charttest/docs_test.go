package charttest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// leafPaths lists the dotted path of every value a user can set: scalars, lists and empty
// maps; non-empty maps are walked into.
func leafPaths(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, leafPaths(p, sub)...)
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Every value in values.yaml is documented in the chart README (as `path` in the table)
// and declared in values.schema.json (whose top level refuses unknown keys).
func TestEveryValueIsDocumentedAndInTheSchema(t *testing.T) {
	vals, err := chartutil.ReadValues([]byte(readFile(t, "values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, "README.md")
	var schema map[string]any
	if err := json.Unmarshal([]byte(readFile(t, "values.schema.json")), &schema); err != nil {
		t.Fatal(err)
	}
	paths := leafPaths("", vals.AsMap())
	if len(paths) < 50 {
		t.Fatalf("only %d values found: %v", len(paths), paths)
	}
	for _, p := range paths {
		if !strings.Contains(readme, "`"+p+"`") {
			t.Errorf("README.md does not document `%s`", p)
		}
		if err := declared(schema, p); err != nil {
			t.Errorf("values.schema.json: %v", err)
		}
	}
}

// declared walks the schema along a dotted value path: each key must be a declared
// property until the walk reaches a free-form object (a Kubernetes type such as
// securityContext, which the API server validates).
func declared(schema map[string]any, path string) error {
	defs, _ := schema["definitions"].(map[string]any)
	node := schema
	for _, key := range strings.Split(path, ".") {
		if ref, ok := node["$ref"].(string); ok {
			node, _ = defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		}
		props, ok := node["properties"].(map[string]any)
		if !ok {
			return nil // free-form below this point
		}
		next, ok := props[key].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %q is not a declared property", path, key)
		}
		node = next
	}
	return nil
}
