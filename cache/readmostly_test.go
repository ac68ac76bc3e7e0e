package cache

import (
	"fmt"
	"sync"
	"testing"
)

func TestReadMostlyAddKeepsTheFirstValueAndHoldsTheBound(t *testing.T) {
	tests := []struct {
		name     string
		bound    int
		adds     []string // key=value
		wantHeld map[string]string
		wantFull bool
	}{
		{"empty map finds nothing", 2, nil, map[string]string{}, false},
		{"an added key is found", 2, []string{"a=1"}, map[string]string{"a": "1"}, false},
		{"a second add of a key keeps the first value", 2, []string{"a=1", "a=2"}, map[string]string{"a": "1"}, false},
		{"keys beyond the bound are refused", 2, []string{"a=1", "b=2", "c=3"}, map[string]string{"a": "1", "b": "2"}, true},
		{"a held key is still answered when full", 1, []string{"a=1", "a=2"}, map[string]string{"a": "1"}, true},
		{"a bound below one holds nothing", 0, []string{"a=1"}, map[string]string{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReadMostly[string, string](tt.bound)
			for _, kv := range tt.adds {
				k, v := kv[:1], kv[2:]
				got, ok := r.Add(k, v)
				want, held := tt.wantHeld[k]
				if ok != held || (held && got != want) || (!held && got != v) {
					t.Errorf("Add(%q, %q) = %q, %v; want held %v with %q", k, v, got, ok, held, want)
				}
			}
			if r.Len() != len(tt.wantHeld) || r.Full() != tt.wantFull {
				t.Errorf("Len %d, Full %v; want %d, %v", r.Len(), r.Full(), len(tt.wantHeld), tt.wantFull)
			}
			for k, want := range tt.wantHeld {
				if got, ok := r.Get(k); !ok || got != want {
					t.Errorf("Get(%q) = %q, %v; want %q", k, got, ok, want)
				}
			}
			if _, ok := r.Get("c"); ok && tt.wantHeld["c"] == "" {
				t.Error("a refused key is found")
			}
		})
	}
}

// TestReadMostlyConcurrentReadersAndWritersAgree: under -race, readers
// that never lock run beside writers adding overlapping keys; every key a
// reader finds has the one value all writers were told is stored, and the
// map ends at its bound with exactly the keys that were accepted.
func TestReadMostlyConcurrentReadersAndWritersAgree(t *testing.T) {
	const bound, keys, writers, readers = 64, 100, 4, 4
	r := NewReadMostly[int, string](bound)
	stored := make([][keys]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for k := range keys {
				if v, ok := r.Add(k, fmt.Sprintf("%d by %d", k, w)); ok {
					stored[w][k] = v
				}
			}
		})
	}
	seen := make([]map[int]string, readers)
	for i := range readers {
		seen[i] = map[int]string{}
		wg.Go(func() {
			for range 50 {
				for k := range keys {
					if v, ok := r.Get(k); ok {
						if prev, was := seen[i][k]; was && prev != v {
							t.Errorf("key %d read as %q, then %q", k, prev, v)
						}
						seen[i][k] = v
					}
				}
			}
		})
	}
	wg.Wait()
	if r.Len() != bound || !r.Full() {
		t.Fatalf("Len %d, Full %v; want the bound %d", r.Len(), r.Full(), bound)
	}
	held := 0
	for k := range keys {
		v, ok := r.Get(k)
		if ok {
			held++
		}
		for w := range writers {
			if s := stored[w][k]; s != "" && s != v {
				t.Errorf("writer %d was told key %d holds %q; it holds %q", w, k, s, v)
			}
		}
		for i := range readers {
			if s, was := seen[i][k]; was && s != v {
				t.Errorf("reader %d saw key %d as %q; it holds %q", i, k, s, v)
			}
		}
	}
	if held != bound {
		t.Errorf("%d keys held, want %d", held, bound)
	}
}

func TestReadMostlyGetAllocatesNothing(t *testing.T) {
	r := NewReadMostly[string, int](4)
	r.Add("a", 1)
	if n := testing.AllocsPerRun(1000, func() { _, _ = r.Get("a"); _, _ = r.Get("b") }); n != 0 {
		t.Errorf("%v allocations per Get, want 0", n)
	}
}
