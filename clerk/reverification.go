package clerk

import (
	"strconv"
	"strings"
)

// Reverification is what has({ reverification }) asks (@clerk/shared
// authorization.ts): that the user verified a factor recently. It is a
// preset (strict_mfa, strict, moderate, lax) or a level and a number of
// minutes.
type Reverification struct {
	Preset       string // the preset named, or "" for Level and AfterMinutes given
	Level        string // first_factor, second_factor or multi_factor
	AfterMinutes int
}

// The SDK's presets (TYPES_TO_OBJECTS).
var reverificationPresets = map[string]Reverification{
	"strict_mfa": {Level: "multi_factor", AfterMinutes: 10},
	"strict":     {Level: "second_factor", AfterMinutes: 10},
	"moderate":   {Level: "second_factor", AfterMinutes: 60},
	"lax":        {Level: "second_factor", AfterMinutes: 1440},
}

// maxReverificationMinutes bounds a level:minutes rule (about 19 years).
const maxReverificationMinutes = 10_000_000

// ParseReverification reads a preset ("strict") or "<level>:<minutes>"
// ("second_factor:30"); minutes are a whole number from 1.
func ParseReverification(s string) (Reverification, bool) {
	if p, ok := reverificationPresets[s]; ok {
		p.Preset = s
		return p, true
	}
	level, minutes, ok := strings.Cut(s, ":")
	if !ok || (level != "first_factor" && level != "second_factor" && level != "multi_factor") {
		return Reverification{}, false
	}
	n, err := strconv.Atoi(minutes)
	if err != nil || n < 1 || n > maxReverificationMinutes || strconv.Itoa(n) != minutes {
		return Reverification{}, false
	}
	return Reverification{Level: level, AfterMinutes: n}, true
}

// Holds is checkReverificationAuthorization: whether a session whose fva
// claim is age has verified recently enough.
func (rv Reverification) Holds(age FactorAge) bool {
	if !age.Valid {
		return false
	}
	f1, f2 := age.First, age.Second
	if f1 == -1 && f2 == -1 {
		return false
	}
	after := float64(rv.AfterMinutes)
	f1Fresh := f1 != -1 && after > f1
	f2Fresh := f2 != -1 && after > f2
	switch rv.Level {
	case "first_factor":
		return f1Fresh
	case "second_factor":
		if f2 == -1 {
			return f1Fresh
		}
		return f2Fresh
	case "multi_factor":
		if f2 == -1 {
			return f1Fresh
		}
		if f1 == -1 {
			return false
		}
		return f1Fresh && f2Fresh
	}
	return false
}

// Metadata is the JSON of the requirement as the app passed it to has(),
// the "reverification" of Clerk's reverification error: the preset's
// name, or {"level":…,"afterMinutes":…}.
func (rv Reverification) Metadata() string {
	if rv.Preset != "" {
		return strconv.Quote(rv.Preset)
	}
	return `{"level":` + strconv.Quote(rv.Level) + `,"afterMinutes":` + strconv.Itoa(rv.AfterMinutes) + `}`
}

// ReverificationErrorBody is @clerk/shared reverificationError(missing):
// the 403 body Clerk's frontend (useReverification) recognises, prompts
// the user with and retries after.
func ReverificationErrorBody(rv Reverification) string {
	return `{"clerk_error":{"type":"forbidden","reason":"reverification-error","metadata":{"reverification":` + rv.Metadata() + `}}}`
}
