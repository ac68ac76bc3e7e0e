package observe

import (
	"context"
	"testing"
	"time"
)

func TestAPIHealthReportsTheLastAnswer(t *testing.T) {
	now := time.Unix(1700000000, 0)
	h := NewAPIHealth(func() time.Time { return now })
	step := func(status int) error {
		now = now.Add(time.Second)
		h.Observe("/jwks", status, nil, 0)
		return h.Check(context.Background())
	}
	if err := h.Check(context.Background()); err != nil {
		t.Fatalf("before any call: %v", err)
	}
	tests := []struct {
		status int
		ok     bool
	}{
		{200, true},
		{503, false},
		{404, true}, // an answer: Clerk is there
		{0, false},  // no answer
		{429, false},
		{401, false}, // the secret key is refused
		{200, true},
	}
	for _, tt := range tests {
		if err := step(tt.status); (err == nil) != tt.ok {
			t.Errorf("after %d: err = %v, want ok=%v", tt.status, err, tt.ok)
		}
	}
}
