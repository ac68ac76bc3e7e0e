package observe

import (
	"strings"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// knownReasons are the reason strings the service reports, taken from the
// lists beside their declarations (clerk.Reasons, clerk.RefreshReasons,
// authz.Reasons), so declaring and listing a reason there makes it a
// label. A metric label must come from a closed set, so ReasonLabel maps
// anything else to a fallback. It is built once and only read.
var knownReasons = buildKnownReasons()

func buildKnownReasons() map[string]bool {
	known := map[string]bool{}
	for _, list := range [][]clerk.Reason{clerk.Reasons(), authz.Reasons()} {
		for _, r := range list {
			known[string(r)] = true
		}
	}
	for _, sub := range clerk.RefreshReasons() {
		known[string(clerk.RefreshPrefix+sub)] = true
	}
	return known
}

const refreshPrefix = string(clerk.RefreshPrefix)

// ReasonLabel is reason as a metric label: itself when it is one of the
// known reasons, "none" when empty, "session-token-expired-refresh-other"
// for an unknown refresh variant, else "other" (e.g. a Backend API error
// code, or a reason declared without being listed).
func ReasonLabel(reason string) string {
	switch {
	case reason == "":
		return "none"
	case knownReasons[reason]:
		return reason
	case strings.HasPrefix(reason, refreshPrefix):
		return refreshPrefix + "other"
	}
	return "other"
}
