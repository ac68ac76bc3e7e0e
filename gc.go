package main

import (
	"log/slog"
	"runtime/debug"
)

// Garbage collector defaults. Every request allocates a few KiB in net/http
// alone while the live heap stays small (the caches), so with Go's default
// GOGC=100 the collector runs dozens of times a second and costs ~10% of
// the CPU of a cached decision (bench/README.md). A higher GOGC makes the
// heap grow further between cycles; the memory limit caps that growth so
// the process stays within a fixed, known bound whatever the traffic.
const (
	defaultGCPercent = 400
	// minMemoryLimit is the floor of the soft limit: the Go runtime's own
	// memory (heap, stacks, runtime structures; not the mapped binary).
	minMemoryLimit = 64 << 20
	// Heap bytes one cache entry holds at most (clerk's
	// TestTokenCacheEntrySize bounds a token entry at 700 bytes, plus its
	// map slot; a user's memberships are a few hundred bytes), doubled
	// below for the collector's headroom over the live heap.
	tokenEntryBytes      = 768
	membershipEntryBytes = 1024
	cacheHeadroomBytes   = 16 << 20
)

// gcSettings are the collector settings the service applies at start.
type gcSettings struct {
	percent int   // 0: leave GOGC alone
	limit   int64 // 0: leave GOMEMLIMIT alone
}

// defaultGC picks the collector settings: none when the operator set GOGC
// or GOMEMLIMIT (their choice wins), otherwise GOGC=400 with a soft memory
// limit of twice what full caches hold (at least 64 MiB), so that a
// larger cache raises the limit instead of making the collector run flat
// out near it.
func defaultGC(cfg *Config, getenv func(string) string) gcSettings {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return gcSettings{}
	}
	caches := int64(max(cfg.TokenCacheSize, 0))*tokenEntryBytes + int64(max(cfg.MembershipCacheSize, 0))*membershipEntryBytes
	return gcSettings{percent: defaultGCPercent, limit: max(minMemoryLimit, 2*caches+cacheHeadroomBytes)}
}

// apply sets the collector and logs what it chose.
func (s gcSettings) apply(logger *slog.Logger) {
	if s.percent == 0 && s.limit == 0 {
		return
	}
	debug.SetGCPercent(s.percent)
	debug.SetMemoryLimit(s.limit)
	logger.Info("garbage collector", "gogc", s.percent, "gomemlimit_mib", s.limit>>20)
}
