package observe

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// This file exports the Go runtime metrics under the names
// client_golang's default Go collector used (go_*), so dashboards keep
// working. Values come from runtime/metrics and debug.ReadGCStats, which
// do not stop the world as runtime.ReadMemStats does.

// runtimeCollector reads the runtime (and the process, processStats) once
// per scrape; its families read from the last reading.
type runtimeCollector struct {
	mu sync.Mutex

	samples []metrics.Sample
	index   map[string]int // sample name → position in samples
	gc      debug.GCStats
	gcPause []float64 // quantiles 0, .25, .5, .75, 1 of recent pauses
	proc    processStats
	procOK  bool

	// exposed are the runtime/metrics values exported under their own
	// derived names (client_golang's default set), when this Go has them.
	exposed []exposedRuntimeMetric
}

type exposedRuntimeMetric struct {
	source, name, help string
}

// Names of the runtime/metrics values read.
const (
	rmTinyAllocs       = "/gc/heap/tiny/allocs:objects"
	rmAllocsObjects    = "/gc/heap/allocs:objects"
	rmFreesObjects     = "/gc/heap/frees:objects"
	rmAllocsBytes      = "/gc/heap/allocs:bytes"
	rmHeapObjects      = "/gc/heap/objects:objects"
	rmHeapGoal         = "/gc/heap/goal:bytes"
	rmTotal            = "/memory/classes/total:bytes"
	rmHeapObjectsBytes = "/memory/classes/heap/objects:bytes"
	rmHeapUnused       = "/memory/classes/heap/unused:bytes"
	rmHeapReleased     = "/memory/classes/heap/released:bytes"
	rmHeapFree         = "/memory/classes/heap/free:bytes"
	rmHeapStacks       = "/memory/classes/heap/stacks:bytes"
	rmOSStacks         = "/memory/classes/os-stacks:bytes"
	rmMSpanInuse       = "/memory/classes/metadata/mspan/inuse:bytes"
	rmMSpanFree        = "/memory/classes/metadata/mspan/free:bytes"
	rmMCacheInuse      = "/memory/classes/metadata/mcache/inuse:bytes"
	rmMCacheFree       = "/memory/classes/metadata/mcache/free:bytes"
	rmProfBuckets      = "/memory/classes/profiling/buckets:bytes"
	rmMetadataOther    = "/memory/classes/metadata/other:bytes"
	rmOther            = "/memory/classes/other:bytes"
)

// exposedRuntimeNames are the runtime/metrics values client_golang's
// default Go collector exported under derived names.
var exposedRuntimeNames = []struct{ source, name string }{
	{"/gc/gogc:percent", "go_gc_gogc_percent"},
	{"/gc/gomemlimit:bytes", "go_gc_gomemlimit_bytes"},
	{"/sched/gomaxprocs:threads", "go_sched_gomaxprocs_threads"},
}

func newRuntimeCollector() *runtimeCollector {
	c := &runtimeCollector{index: map[string]int{}, gcPause: make([]float64, 5)}
	known := map[string]string{}
	for _, d := range metrics.All() {
		known[d.Name] = d.Description
	}
	add := func(name string) {
		if _, ok := c.index[name]; !ok {
			c.index[name] = len(c.samples)
			c.samples = append(c.samples, metrics.Sample{Name: name})
		}
	}
	for _, n := range []string{rmTinyAllocs, rmAllocsObjects, rmFreesObjects, rmAllocsBytes, rmHeapObjects, rmHeapGoal,
		rmTotal, rmHeapObjectsBytes, rmHeapUnused, rmHeapReleased, rmHeapFree, rmHeapStacks, rmOSStacks,
		rmMSpanInuse, rmMSpanFree, rmMCacheInuse, rmMCacheFree, rmProfBuckets, rmMetadataOther, rmOther} {
		add(n)
	}
	for _, e := range exposedRuntimeNames {
		desc, ok := known[e.source]
		if !ok {
			continue // an older or newer Go without it: left out, as client_golang did
		}
		add(e.source)
		c.exposed = append(c.exposed, exposedRuntimeMetric{source: e.source, name: e.name, help: desc + " Sourced from " + e.source + "."})
	}
	c.gc.PauseQuantiles = make([]time.Duration, 5)
	return c
}

// read takes one reading of the runtime and the process. The error says
// the process metrics could not be read (they are then left out).
func (c *runtimeCollector) read() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	metrics.Read(c.samples)
	debug.ReadGCStats(&c.gc)
	// As client_golang: the minimum, then the quartiles of recent pauses.
	for i, q := range c.gc.PauseQuantiles {
		c.gcPause[i] = q.Seconds()
	}
	var err error
	c.proc, err = readProcessStats()
	c.procOK = err == nil
	return err
}

// value is a runtime/metrics value as a uint64; 0 for one this Go does
// not have (client_golang's lookupOrZero).
func (c *runtimeCollector) value(name string) uint64 {
	i, ok := c.index[name]
	if !ok {
		return 0
	}
	switch v := c.samples[i].Value; v.Kind() {
	case metrics.KindUint64:
		return v.Uint64()
	case metrics.KindFloat64:
		return uint64(v.Float64())
	case metrics.KindBad, metrics.KindFloat64Histogram:
		// Not a value this Go has as a scalar: 0, as client_golang.
	}
	return 0
}

func (c *runtimeCollector) float(name string) float64 {
	v := c.samples[c.index[name]].Value
	switch v.Kind() {
	case metrics.KindUint64:
		return float64(v.Uint64())
	case metrics.KindFloat64:
		return v.Float64()
	case metrics.KindBad, metrics.KindFloat64Histogram:
		// Not a value this Go has as a scalar: 0, as client_golang.
	}
	return 0
}

// memstat is a go_memstats_* family: what runtime.MemStats' field would
// hold, computed from runtime/metrics as client_golang computes it.
type memstat struct {
	name, help, typ string
	eval            func(c *runtimeCollector) uint64
}

var memstats = []memstat{
	{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapObjectsBytes) }},
	{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", typeCounter,
		func(c *runtimeCollector) uint64 { return c.value(rmAllocsBytes) }},
	{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmTotal) }},
	{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", typeCounter,
		func(c *runtimeCollector) uint64 { return c.value(rmAllocsObjects) + c.value(rmTinyAllocs) }},
	{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", typeCounter,
		func(c *runtimeCollector) uint64 { return c.value(rmFreesObjects) + c.value(rmTinyAllocs) }},
	{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapObjectsBytes) }},
	{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 {
			return c.value(rmHeapObjectsBytes) + c.value(rmHeapUnused) + c.value(rmHeapReleased) + c.value(rmHeapFree)
		}},
	{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapReleased) + c.value(rmHeapFree) }},
	{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapObjectsBytes) + c.value(rmHeapUnused) }},
	{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapReleased) }},
	{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapObjects) }},
	{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapStacks) }},
	{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapStacks) + c.value(rmOSStacks) }},
	{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmMSpanInuse) }},
	{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmMSpanInuse) + c.value(rmMSpanFree) }},
	{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmMCacheInuse) }},
	{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmMCacheInuse) + c.value(rmMCacheFree) }},
	{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmProfBuckets) }},
	{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmMetadataOther) }},
	{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmOther) }},
	{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", typeGauge,
		func(c *runtimeCollector) uint64 { return c.value(rmHeapGoal) }},
}

// families are the go_* and process_* families. They read the last
// reading; Metrics.WriteText reads before writing and writes under no
// other lock, so each family takes c.mu itself.
func (c *runtimeCollector) families() []*family {
	locked := func(f func() float64) func() float64 {
		return func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return f()
		}
	}
	_, goInfo := labelSet{names: []string{"version"}, values: []string{runtime.Version()}}.sorted()
	fams := []*family{
		single("go_goroutines", "Number of goroutines that currently exist.", typeGauge,
			func() float64 { return float64(runtime.NumGoroutine()) }),
		single("go_threads", "Number of OS threads created.", typeGauge, func() float64 {
			n, _ := runtime.ThreadCreateProfile(nil)
			return float64(n)
		}),
		{name: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", typ: typeSummary,
			write: func(e *encoder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				for i, q := range c.gcPause {
					e.sample("go_gc_duration_seconds", "", "", "quantile", float64(i)/float64(len(c.gcPause)-1), q)
				}
				e.sample("go_gc_duration_seconds", "_sum", "", "", 0, c.gc.PauseTotal.Seconds())
				e.sample("go_gc_duration_seconds", "_count", "", "", 0, float64(c.gc.NumGC))
			}},
		single("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", typeGauge,
			locked(func() float64 { return float64(c.gc.LastGC.UnixNano()) / 1e9 })),
		{name: "go_info", help: "Information about the Go environment.", typ: typeGauge, write: func(e *encoder) {
			e.sample("go_info", "", goInfo, "", 0, 1)
		}},
	}
	for _, ms := range memstats {
		fams = append(fams, single("go_memstats_"+ms.name, ms.help, ms.typ, locked(func() float64 { return float64(ms.eval(c)) })))
	}
	for _, x := range c.exposed {
		fams = append(fams, single(x.name, x.help, typeGauge, locked(func() float64 { return c.float(x.source) })))
	}
	return append(fams, c.processFamilies()...)
}
