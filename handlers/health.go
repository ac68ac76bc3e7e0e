package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// ReadyCheck is one line of /readyz.
type ReadyCheck struct {
	Name string
	// Fatal: a failure makes /readyz answer 503. A check that is not fatal
	// is only reported (the Backend API being down is not, while the
	// caches can serve).
	Fatal bool
	Check func(ctx context.Context) error
}

// readyTimeout bounds all checks together: probes have short timeouts.
const readyTimeout = 2 * time.Second

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// ready answers /readyz: 200 when the keys are loaded and every fatal
// check passes, else 503; the body lists each check.
func (s *server) ready(checks []ReadyCheck) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		type result struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Fatal bool   `json:"fatal"`
			Error string `json:"error,omitempty"`
		}
		body := struct {
			Status string   `json:"status"`
			Checks []result `json:"checks"`
		}{Status: "ready"}
		keys := result{Name: "keys", OK: s.engine.Ready(), Fatal: true}
		if !keys.OK {
			keys.Error = "signing keys not loaded yet"
		}
		body.Checks = append(body.Checks, keys)
		for _, c := range checks {
			res := result{Name: c.Name, OK: true, Fatal: c.Fatal}
			if err := c.Check(ctx); err != nil {
				res.OK, res.Error = false, err.Error()
			}
			body.Checks = append(body.Checks, res)
		}
		status := http.StatusOK
		for _, c := range body.Checks {
			if c.Fatal && !c.OK {
				body.Status, status = "not_ready", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}
