package observe

import (
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
)

func TestAppendFloatFormatsAsClientGolang(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{-1, "-1"},
		{0.0001, "0.0001"},
		{0.25, "0.25"},
		{2.5, "2.5"},
		{1e6, "1e+06"},
		{1.796657206e9, "1.796657206e+09"},
		{math.MaxInt64, "9.223372036854776e+18"},
		{math.MaxUint64, "1.8446744073709552e+19"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := string(appendFloat(nil, tt.v)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// encodeFamilies encodes fams in order and returns the text.
func encodeFamilies(fams ...*family) string {
	var e encoder
	for _, f := range fams {
		e.family(f)
	}
	return string(e.buf)
}

func TestExpositionEscapesHelpAndLabelValues(t *testing.T) {
	help := "a \\ backslash,\na newline and \"quotes\""
	value := "say \"hi\"\\n\nnow"
	v := newVec("test_total", help, typeCounter, []string{"b", "a"}, newCounter, writeCounterSeries)
	v.with(value, "x").inc()
	got := encodeFamilies(v.family())
	want := `# HELP test_total a \\ backslash,\na newline and "quotes"
# TYPE test_total counter
test_total{a="x",b="say \"hi\"\\n\nnow"} 1
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	f := fams["test_total"]
	if f.GetHelp() != help {
		t.Errorf("help read back %q, want %q", f.GetHelp(), help)
	}
	if l := f.GetMetric()[0].GetLabel(); l[0].GetValue() != "x" || l[1].GetValue() != value {
		t.Errorf("labels read back %v", l)
	}
}

func TestExpositionSortsSeriesAndLeavesOutEmptyFamilies(t *testing.T) {
	v := newVec("req_total", "Requests.", typeCounter, []string{"route", "code"}, newCounter, writeCounterSeries)
	for _, l := range [][2]string{{"/b", "500"}, {"/a", "200"}, {"/b", "200"}, {"/a", "404"}} {
		v.with(l[0], l[1]).inc()
	}
	empty := newVec("none_total", "Nothing yet.", typeCounter, []string{"x"}, newCounter, writeCounterSeries)
	got := encodeFamilies(empty.family(), v.family())
	// Label names sorted (code before route); series sorted by the values
	// in that order.
	want := `# HELP req_total Requests.
# TYPE req_total counter
req_total{code="200",route="/a"} 1
req_total{code="200",route="/b"} 1
req_total{code="404",route="/a"} 1
req_total{code="500",route="/b"} 1
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestHistogramBoundsAreInclusiveAndCountIsTheInfBucket(t *testing.T) {
	h := newHistogram([]float64{0.1, 1})
	for _, v := range []float64{0.05, 0.1, 0.5, 1, 2, 1e9} {
		h.observe(v)
	}
	got := encodeFamilies(&family{name: "h_seconds", help: "H.", typ: typeHistogram, write: func(e *encoder) { h.writeTo(e, "h_seconds", `a="b"`) }})
	want := `# HELP h_seconds H.
# TYPE h_seconds histogram
h_seconds_bucket{a="b",le="0.1"} 2
h_seconds_bucket{a="b",le="1"} 4
h_seconds_bucket{a="b",le="+Inf"} 6
h_seconds_sum{a="b"} 1.00000000365e+09
h_seconds_count{a="b"} 6
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestHistogramCountsExactlyUnderConcurrency(t *testing.T) {
	h := newHistogram([]float64{0.5, 1})
	const workers, each = 8, 10000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				h.observe(0.25) // exact in binary, so the sum is exact
				h.observe(4)
			}
		})
	}
	wg.Wait()
	if n := h.buckets[0].Load(); n != workers*each {
		t.Errorf("le=0.5 holds %d, want %d", n, workers*each)
	}
	if n := h.buckets[2].Load(); n != workers*each {
		t.Errorf("+Inf holds %d, want %d", n, workers*each)
	}
	if sum, want := math.Float64frombits(h.sumBits.Load()), float64(workers*each)*4.25; sum != want {
		t.Errorf("sum %v, want %v", sum, want)
	}
	if n := testing.AllocsPerRun(1000, func() { h.observe(0.7) }); n != 0 {
		t.Errorf("%v allocations per observation, want 0", n)
	}
}

func TestFuncFamilyRefusesADuplicateSeries(t *testing.T) {
	f := &funcFamily{name: "x", help: "X.", typ: typeGauge}
	l := labelSet{names: []string{"cache"}, values: []string{"a"}}
	if err := f.add(l, func() float64 { return 1 }); err != nil {
		t.Fatal(err)
	}
	if err := f.add(l, func() float64 { return 2 }); err == nil {
		t.Fatal("the same labels twice were accepted")
	}
	if got := encodeFamilies(f.family()); got != "# HELP x X.\n# TYPE x gauge\nx{cache=\"a\"} 1\n" {
		t.Errorf("got %q", got)
	}
}
