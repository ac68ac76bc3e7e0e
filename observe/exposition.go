package observe

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// This file writes the Prometheus text exposition format (version 0.0.4)
// and holds the few metric kinds the service needs. It replaces
// client_golang, whose registry, descriptors and protobuf model were a
// sizeable share of what every garbage collection marks; the output is
// what client_golang wrote: families sorted by name, series sorted by
// label values, label names sorted, numbers formatted by
// strconv.FormatFloat(v, 'g', -1, 64).

// textContentType is the content type of the text format, version 0.0.4.
const textContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types as the TYPE line names them.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
	typeSummary   = "summary"
)

// family is one metric family: its header and a function writing its
// samples. A family whose write produces no sample is left out entirely,
// as client_golang leaves out a vector with no series.
type family struct {
	name, help, typ string
	write           func(e *encoder)
}

// encoder appends families to a buffer, written out in one piece. The
// header of a family is written with its first sample, so an empty family
// writes nothing.
type encoder struct {
	buf     []byte
	pending *family
}

// family writes f's samples, preceded by its HELP and TYPE lines if any.
func (e *encoder) family(f *family) {
	e.pending = f
	f.write(e)
	e.pending = nil
}

func (e *encoder) header() {
	f := e.pending
	if f == nil {
		return
	}
	e.pending = nil
	e.buf = append(e.buf, "# HELP "...)
	e.buf = append(e.buf, f.name...)
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, helpEscaper.Replace(f.help)...)
	e.buf = append(e.buf, "\n# TYPE "...)
	e.buf = append(e.buf, f.name...)
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, f.typ...)
	e.buf = append(e.buf, '\n')
}

// sample writes one line: name+suffix, the series' labels (already
// formatted by labelSet.sorted), an optional extra label (le or quantile)
// whose value is a number, and the value.
func (e *encoder) sample(name, suffix, labels, extraName string, extraValue, v float64) {
	e.header()
	b := append(e.buf, name...)
	b = append(b, suffix...)
	if labels != "" || extraName != "" {
		b = append(b, '{')
		b = append(b, labels...)
		if extraName != "" {
			if labels != "" {
				b = append(b, ',')
			}
			b = append(b, extraName...)
			b = append(b, `="`...)
			b = appendFloat(b, extraValue)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	e.buf = append(b, '\n')
}

// appendFloat formats v as the text format wants it: Go's shortest 'g'
// form, with +Inf, -Inf and NaN spelled as Prometheus spells them.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var (
	helpEscaper       = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// labelSet is a series' labels: names and values in the order the caller
// declared them.
type labelSet struct {
	names, values []string
}

// sorted returns the label values ordered by label name (the order series
// are sorted by) and the labels formatted for a sample line:
// name="value",… with names sorted and values escaped.
func (l labelSet) sorted() (values []string, text string) {
	idx := make([]int, len(l.names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(l.names[a], l.names[b]) })
	var sb strings.Builder
	values = make([]string, len(idx))
	for n, i := range idx {
		values[n] = l.values[i]
		if n > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(l.names[i])
		sb.WriteString(`="`)
		sb.WriteString(labelValueEscaper.Replace(l.values[i]))
		sb.WriteByte('"')
	}
	return values, sb.String()
}

// counter is a monotonic count, lock-free.
type counter struct{ n atomic.Uint64 }

func (c *counter) inc()           { c.n.Add(1) }
func (c *counter) value() float64 { return float64(c.n.Load()) }

// gauge is a float64 kept as bits, lock-free.
type gauge struct{ bits atomic.Uint64 }

func (g *gauge) set(v float64)  { g.bits.Store(math.Float64bits(v)) }
func (g *gauge) value() float64 { return math.Float64frombits(g.bits.Load()) }
func newGauge(v float64) *gauge { g := &gauge{}; g.set(v); return g }
func newCounter() *counter      { return &counter{} }
func histogramMaker(upper []float64) func() *histogram {
	return func() *histogram { return newHistogram(upper) }
}

// histogram counts observations in buckets with inclusive upper bounds,
// lock-free and allocation-free: one atomic add for the bucket and a
// compare-and-swap loop for the sum (kept as float64 bits). The count is
// the sum of the buckets, so _count always equals the +Inf bucket even
// when a scrape races an observation.
type histogram struct {
	upper   []float64       // sorted upper bounds, +Inf excluded
	buckets []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64
}

func newHistogram(upper []float64) *histogram {
	return &histogram{upper: upper, buckets: make([]atomic.Uint64, len(upper)+1)}
}

func (h *histogram) observe(v float64) {
	// The first bound ≥ v is v's bucket (bounds are inclusive); past the
	// last bound, the +Inf bucket.
	i, _ := slices.BinarySearch(h.upper, v)
	h.buckets[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// writeTo writes the histogram's _bucket, _sum and _count lines.
func (h *histogram) writeTo(e *encoder, name, labels string) {
	var cumulative uint64
	for i, bound := range h.upper {
		cumulative += h.buckets[i].Load()
		e.sample(name, "_bucket", labels, "le", bound, float64(cumulative))
	}
	cumulative += h.buckets[len(h.upper)].Load()
	e.sample(name, "_bucket", labels, "le", math.Inf(1), float64(cumulative))
	e.sample(name, "_sum", labels, "", 0, math.Float64frombits(h.sumBits.Load()))
	e.sample(name, "_count", labels, "", 0, float64(cumulative))
}

// maxLabels is the most labels a vector has; a fixed-size key makes the
// lookup allocation-free.
const maxLabels = 3

type labelKey [maxLabels]string

// vec is a metric with variable labels: one M per label set, created on
// first use. Lookups take a read lock, as client_golang's vectors did;
// the per-request path (Metrics.Decision) caches its series and takes no
// lock.
type vec[M any] struct {
	name, help, typ string
	labels          []string
	make            func() *M
	write           func(m *M, e *encoder, name, labels string)

	mu     sync.RWMutex
	series map[labelKey]*vecSeries[M]
}

type vecSeries[M any] struct {
	sortKey []string
	text    string
	m       *M
}

func newVec[M any](name, help, typ string, labels []string, mk func() *M, write func(*M, *encoder, string, string)) *vec[M] {
	if len(labels) > maxLabels {
		panic("observe: a vector has at most " + strconv.Itoa(maxLabels) + " labels")
	}
	return &vec[M]{name: name, help: help, typ: typ, labels: labels, make: mk, write: write, series: map[labelKey]*vecSeries[M]{}}
}

// with returns the series for the label values, given in the order of
// the vector's label names.
func (v *vec[M]) with(values ...string) *M {
	var k labelKey
	copy(k[:], values)
	v.mu.RLock()
	s, ok := v.series[k]
	v.mu.RUnlock()
	if ok {
		return s.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[k]; ok {
		return s.m
	}
	sortKey, text := labelSet{names: v.labels, values: k[:len(v.labels)]}.sorted()
	s = &vecSeries[M]{sortKey: sortKey, text: text, m: v.make()}
	v.series[k] = s
	return s.m
}

func (v *vec[M]) family() *family {
	return &family{name: v.name, help: v.help, typ: v.typ, write: func(e *encoder) {
		v.mu.RLock()
		list := make([]*vecSeries[M], 0, len(v.series))
		for _, s := range v.series {
			list = append(list, s)
		}
		v.mu.RUnlock()
		slices.SortFunc(list, func(a, b *vecSeries[M]) int { return slices.Compare(a.sortKey, b.sortKey) })
		for _, s := range list {
			v.write(s.m, e, v.name, s.text)
		}
	}}
}

func writeCounterSeries(c *counter, e *encoder, name, labels string) {
	e.sample(name, "", labels, "", 0, c.value())
}

func writeHistogramSeries(h *histogram, e *encoder, name, labels string) {
	h.writeTo(e, name, labels)
}

// funcFamily is a family whose series are read at scrape time (the cache
// counters, build_info): fixed labels and a function each.
type funcFamily struct {
	name, help, typ string

	mu     sync.Mutex
	series []funcSeries
}

type funcSeries struct {
	sortKey []string
	text    string
	read    func() float64
}

// add adds a series; a second series with the same labels is an error.
func (f *funcFamily) add(l labelSet, read func() float64) error {
	sortKey, text := l.sorted()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.series {
		if s.text == text {
			return &duplicateSeriesError{name: f.name, labels: text}
		}
	}
	f.series = append(f.series, funcSeries{sortKey: sortKey, text: text, read: read})
	slices.SortFunc(f.series, func(a, b funcSeries) int { return slices.Compare(a.sortKey, b.sortKey) })
	return nil
}

func (f *funcFamily) family() *family {
	return &family{name: f.name, help: f.help, typ: f.typ, write: func(e *encoder) {
		f.mu.Lock()
		list := slices.Clone(f.series)
		f.mu.Unlock()
		for _, s := range list {
			e.sample(f.name, "", s.text, "", 0, s.read())
		}
	}}
}

type duplicateSeriesError struct{ name, labels string }

func (e *duplicateSeriesError) Error() string {
	return "metric " + e.name + "{" + e.labels + "} is already registered"
}

// single is a family of one unlabelled series read at scrape time.
func single(name, help, typ string, read func() float64) *family {
	return &family{name: name, help: help, typ: typ, write: func(e *encoder) {
		e.sample(name, "", "", "", 0, read())
	}}
}
