//go:build !linux

package observe

// Without /proc the process_* metrics are left out: reading them
// elsewhere would need each system's own calls, and the service is
// deployed on Linux.

type processStats struct{}

func readProcessStats() (processStats, error) { return processStats{}, nil }

func (c *runtimeCollector) processFamilies() []*family { return nil }
