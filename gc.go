package main

import (
	"log/slog"
	"runtime/debug"
)

// Garbage collector defaults. Every request allocates a few KiB in net/http
// alone while the live heap stays small (the caches), so with Go's default
// GOGC=100 the collector runs dozens of times a second and costs a
// sizeable share of the CPU of a cached decision (bench/run.sh's repeated
// token in bench/README.md). A higher GOGC makes the
// heap grow further between cycles; the memory limit caps that growth so
// the process stays within a fixed, known bound whatever the traffic.
const (
	defaultGCPercent = 400
	// minMemoryLimit is the floor of the soft limit: the Go runtime's own
	// memory (heap, stacks, runtime structures; not the mapped binary).
	minMemoryLimit = 64 << 20
	// Heap bytes one cache entry holds at most (clerk's
	// TestTokenCacheEntrySize bounds a token entry at 700 bytes, its arena
	// headroom and map slot included; a user's memberships are a few hundred
	// bytes, and so is a verified machine credential's Machine), doubled
	// below for the collector's headroom over the live heap.
	tokenEntryBytes      = 768
	membershipEntryBytes = 1024
	machineEntryBytes    = 1024
	cacheHeadroomBytes   = 16 << 20
)

// gcSettings are the collector settings the service applies at start.
type gcSettings struct {
	percent int   // 0: leave GOGC alone
	limit   int64 // 0: leave GOMEMLIMIT alone
}

// defaultGC picks the collector settings, each on its own: GOGC=400 unless
// the operator set GOGC, and unless they set GOMEMLIMIT a soft memory limit
// of twice what full caches hold (at least 64 MiB), so that a larger cache
// raises the limit instead of making the collector run flat out near it.
// Each is independent because deployments set one without the other: the
// Helm chart sets GOMEMLIMIT from the container's memory limit, which must
// not bring back Go's GOGC=100 (a collection every few MiB of requests).
func defaultGC(cfg *Config, getenv func(string) string) gcSettings {
	var s gcSettings
	if getenv("GOGC") == "" {
		s.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		caches := int64(max(cfg.TokenCacheSize, 0))*tokenEntryBytes + int64(max(cfg.MembershipCacheSize, 0))*membershipEntryBytes +
			int64(max(cfg.MachineTokenCacheSize, 0))*machineEntryBytes
		s.limit = max(minMemoryLimit, 2*caches+cacheHeadroomBytes)
	}
	return s
}

// apply sets what defaultGC chose and logs it.
func (s gcSettings) apply(logger *slog.Logger) {
	if s.percent == 0 && s.limit == 0 {
		return
	}
	var attrs []any
	if s.percent != 0 {
		debug.SetGCPercent(s.percent)
		attrs = append(attrs, "gogc", s.percent)
	}
	if s.limit != 0 {
		debug.SetMemoryLimit(s.limit)
		attrs = append(attrs, "gomemlimit_mib", s.limit>>20)
	}
	logger.Info("garbage collector", attrs...)
}
