package loadtest

import (
	"errors"
	"testing"
)

func TestParseQualityMix(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int // viewers of each quality among the first 100
		bad  bool
	}{
		{"", map[string]int{"auto": 100}, false},
		{"low", map[string]int{"low": 100}, false},
		{"high:60,medium:30,low:10", map[string]int{"high": 60, "medium": 30, "low": 10}, false},
		{" High:6 , low:4% ", map[string]int{"high": 60, "low": 40}, false},
		{"high:1,medium:1,low:2", map[string]int{"high": 25, "medium": 25, "low": 50}, false},
		{"auto:50,high:50,low:0", map[string]int{"auto": 50, "high": 50}, false},
		{"best", nil, true},
		{"high:x", nil, true},
		{"high:-1", nil, true},
		{"high,high", nil, true},
		{"high:0", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			mix, err := parseQualityMix(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadParams) {
					t.Fatalf("err = %v, want ErrBadParams", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			prev, runs := "", 0
			for i := range 100 {
				q := qualityFor(mix, i)
				got[q]++
				if q != prev {
					runs++
				}
				prev = q
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("%s: %d of 100, want %d (all: %v)", k, got[k], n, got)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("qualities %v, want %v", got, tt.want)
			}
			if len(tt.want) > 1 && runs < 10 {
				t.Errorf("only %d runs in 100 viewers: the mix is not interleaved", runs)
			}
		})
	}
}

func TestClassifyLayer(t *testing.T) {
	const top = 1_500_000
	tests := []struct {
		bps   float64
		video int64
		want  string
	}{
		{60_000, 0, "audio_only"},
		{150_000 + 60_000, 100, "low"},
		{500_000 + 60_000, 100, "medium"},
		{1_500_000 + 60_000, 100, "high"},
	}
	for _, tt := range tests {
		if got := classifyLayer(tt.bps, tt.video, top); got != tt.want {
			t.Errorf("classifyLayer(%v, %d) = %s, want %s", tt.bps, tt.video, got, tt.want)
		}
	}
}
