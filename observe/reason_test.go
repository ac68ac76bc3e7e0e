package observe

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestReasonLabelKeepsKnownReasonsAndBoundsTheRest(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"", "none"},
		{"token-expired", "token-expired"},
		{"session-token-and-uat-missing", "session-token-and-uat-missing"},
		{"not-organization-member", "not-organization-member"},
		{"session-token-expired-refresh-non-eligible-non-get", "session-token-expired-refresh-non-eligible-non-get"},
		{"session-token-expired-refresh-null", "session-token-expired-refresh-null"},
		{"session-token-expired-refresh-user_2abc", "session-token-expired-refresh-other"},
		{"resource_not_found", "other"},       // a Backend API code
		{"TOKEN-EXPIRED", "other"},            // case matters, as in Clerk's docs
		{"token-expired\nforged", "other"},    // never a client-shaped string
		{strings.Repeat("x", 10000), "other"}, // nor a long one
	}
	for _, tt := range tests {
		if got := ReasonLabel(tt.reason); got != tt.want {
			t.Errorf("ReasonLabel(%.40q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

// TestEveryReasonConstantIsKnown reads the reason constants declared in
// clerk/, authz/ and handlers/ (Go cannot list a package's constants at run
// time), so a reason declared there but missing from the list beside it
// (clerk.Reasons, clerk.RefreshReasons, authz.Reasons) fails here instead
// of showing up as "other" in metrics.
func TestEveryReasonConstantIsKnown(t *testing.T) {
	found := 0
	for _, dir := range []string{"../clerk", "../authz", "../handlers"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				spec, ok := n.(*ast.ValueSpec)
				if !ok || !isReasonType(spec.Type) {
					return true
				}
				for i, name := range spec.Names {
					if i >= len(spec.Values) { // var x clerk.Reason: no constant here
						continue
					}
					lit, ok := spec.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					found++
					want := v
					if strings.HasPrefix(name.Name, "Refresh") {
						v = refreshPrefix + v // a refresh sub-reason
						want = v
					}
					if got := ReasonLabel(v); got != want {
						t.Errorf("%s: %s = %q maps to %q: list it beside its declaration", path, name.Name, v, got)
					}
				}
				return true
			})
		}
	}
	if found < 35 {
		t.Fatalf("found only %d reason constants: the scan is broken", found)
	}
}

func isReasonType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "Reason"
	case *ast.SelectorExpr:
		return x.Sel.Name == "Reason"
	}
	return false
}
