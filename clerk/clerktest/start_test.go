package clerktest

import (
	"net/http"
	"testing"
)

// recordingTB is a TB that keeps its cleanups, to run them when the test
// says.
type recordingTB struct {
	testing.TB
	cleanups []func()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// TestStartServesUntilTheTestEnds: Start's server answers, and is closed by
// the cleanup it registers.
func TestStartServesUntilTheTestEnds(t *testing.T) {
	tb := &recordingTB{TB: t}
	s := Start(tb, Options{Production: true})
	resp, err := http.Get(s.URL + "/v1/jwks")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if len(tb.cleanups) != 1 {
		t.Fatalf("%d cleanups registered, want 1", len(tb.cleanups))
	}
	tb.cleanups[0]()
	if resp, err := http.Get(s.URL + "/v1/jwks"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the server still answers after the test's cleanup")
	}
}
