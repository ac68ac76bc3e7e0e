package main

import "testing"

func TestDefaultGC(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name       string
		tokens     int
		members    int
		env        map[string]string
		wantGOGC   int
		wantLimMiB int64
	}{
		{"defaults get GOGC 400 and the 64 MiB floor", 10000, 10000, nil, 400, 64},
		{"bigger caches raise the limit", 100000, 10000, nil, 400, 2*(100000*768+10000*1024)>>20 + 16},
		{"caches off keep the floor", 0, 0, nil, 400, 64},
		{"operator's GOGC wins, the limit stays", 10000, 10000, map[string]string{"GOGC": "100"}, 0, 64},
		{"operator's GOMEMLIMIT wins, GOGC stays (the Helm chart sets it)", 10000, 10000, map[string]string{"GOMEMLIMIT": "200MiB"}, 400, 0},
		{"operator's both win", 10000, 10000, map[string]string{"GOGC": "100", "GOMEMLIMIT": "200MiB"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaultGC(&Config{TokenCacheSize: tt.tokens, MembershipCacheSize: tt.members}, env(tt.env))
			if got.percent != tt.wantGOGC || got.limit>>20 != tt.wantLimMiB {
				t.Fatalf("defaultGC = {%d, %d MiB}, want {%d, %d MiB}", got.percent, got.limit>>20, tt.wantGOGC, tt.wantLimMiB)
			}
		})
	}
}
