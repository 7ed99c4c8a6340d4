package loadtest

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/relaycast/relaycast/client"
)

// Simulcast rooms at load (--simulcast, --quality): the synthetic publisher sends three RID
// layers (client.SimulcastRIDs: q, h, f at 1/10, 1/3 and all of --bitrate), and each synthetic
// viewer asks for a layer, by the /ws `quality` field of its watch message or WHEP's ?quality=.
// What each viewer actually received in the hold window is classified by its bitrate (the
// viewer's track is one continuous SSRC whatever the layer), and over /ws also by the server's
// last `layer` message.

// Quality names (signaling/PROTOCOL.md, "Simulcast").
var qualityNames = []string{"auto", "high", "medium", "low"}

type qualityShare struct {
	name   string
	weight float64
}

// parseQualityMix parses "auto", "high", … or a mix "high:60,medium:30,low:10" (weights, any
// positive numbers; they need not add up to 100). "" is auto.
func parseQualityMix(s string) ([]qualityShare, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []qualityShare{{"auto", 1}}, nil
	}
	var out []qualityShare
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, w, hasW := strings.Cut(strings.TrimSpace(part), ":")
		name = strings.ToLower(strings.TrimSpace(name))
		weight := 1.0
		if hasW {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(w), "%")), 64)
			if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("%w: --quality %q: weight %q is not a number >= 0", ErrBadParams, s, w)
			}
			weight = v
		}
		ok := false
		for _, q := range qualityNames {
			ok = ok || q == name
		}
		if !ok || seen[name] {
			return nil, fmt.Errorf("%w: --quality %q: want auto, high, medium or low, or a mix like high:60,medium:30,low:10 (each once)", ErrBadParams, s)
		}
		seen[name] = true
		if weight > 0 {
			out = append(out, qualityShare{name, weight})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: --quality %q: all weights are 0", ErrBadParams, s)
	}
	return out, nil
}

func qualityErr(s string) error {
	_, err := parseQualityMix(s)
	return err
}

// qualityFor is the quality viewer i (0-based, in join order) asks for. The mix is spread over
// the join order: viewer i stands at position (37·i mod 100) + ½ of 100 on the line the weights
// divide, so every 100 consecutive viewers hold whole-percent weights exactly, interleaved.
func qualityFor(mix []qualityShare, i int) string {
	var total float64
	for _, q := range mix {
		total += q.weight
	}
	pos := (float64((i*37)%100) + 0.5) / 100 * total
	var acc float64
	for _, q := range mix {
		acc += q.weight
		if pos < acc {
			return q.name
		}
	}
	return mix[len(mix)-1].name
}

// whepQuality is the WHEP URL suffix for a quality ("" for auto: WHEP viewers get Auto anyway).
func whepQuality(q string) string {
	if q == "" || q == "auto" {
		return ""
	}
	return "?quality=" + url.QueryEscape(q)
}

// LayerMix is what the synthetic viewers asked for and what they received in the hold window.
type LayerMix struct {
	Requested map[string]int `json:"requested"` // quality asked for → viewers
	// Received classifies each viewer by its received bitrate over the hold window against the
	// publisher's layer rates (boundaries at the geometric means of neighbouring layers):
	// high | medium | low, or audio_only when no video packet came.
	Received     map[string]int     `json:"received"`
	ReceivedMbps map[string]float64 `json:"received_mbps"` // mean per viewer of each class
	// ByRequest is "requested→received" → viewers, e.g. "high→high": 180.
	ByRequest map[string]int `json:"by_request"`
	// WSReported is the server's last `layer` message per viewer (/ws signaling only).
	WSReported map[string]int `json:"ws_reported,omitempty"`
}

// classifyLayer names the layer a viewer received from its bitrate (bits/s, video + audio) for a
// publisher whose top layer is bitrate: the layers run at bitrate/10, /3 and /1.
func classifyLayer(bps float64, videoPackets int64, bitrate int) string {
	b := float64(bitrate)
	switch {
	case videoPackets == 0:
		return "audio_only"
	case bps < b*math.Sqrt(1.0/30):
		return "low"
	case bps < b*math.Sqrt(1.0/3):
		return "medium"
	}
	return "high"
}

// layerMix fills a LayerMix from the viewers' stats at the start and end of the hold window.
func (s *synthPool) layerMix(mark map[*synthViewer]client.Stats, dt float64) *LayerMix {
	if dt <= 0 {
		return nil
	}
	m := &LayerMix{Requested: map[string]int{}, Received: map[string]int{}, ReceivedMbps: map[string]float64{}, ByRequest: map[string]int{}}
	sum := map[string]float64{}
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	for _, sv := range vs {
		st := sv.v.Stats()
		m0, ok := mark[sv]
		if !ok {
			continue // joined after the hold started
		}
		bps := float64(st.Bytes-m0.Bytes) * 8 / dt
		got := classifyLayer(bps, st.VideoPackets-m0.VideoPackets, s.p.Bitrate)
		req := sv.quality
		if req == "" {
			req = "auto"
		}
		m.Requested[req]++
		m.Received[got]++
		sum[got] += bps
		m.ByRequest[req+"→"+got]++
		if sv.ws != nil {
			if m.WSReported == nil {
				m.WSReported = map[string]int{}
			}
			l := sv.ws.Layer()
			if l == "" {
				l = "none"
			}
			m.WSReported[l]++
		}
	}
	for k, n := range m.Received {
		m.ReceivedMbps[k] = round3(sum[k] / float64(n) / 1e6)
	}
	return m
}

// String is a one-line summary, e.g. "high 180 (1.62 Mb/s), medium 90 (0.57), low 30 (0.21)".
func (m *LayerMix) String() string {
	if m == nil {
		return ""
	}
	keys := make([]string, 0, len(m.Received))
	for k := range m.Received {
		keys = append(keys, k)
	}
	order := map[string]int{"high": 0, "medium": 1, "low": 2, "audio_only": 3}
	sort.Slice(keys, func(i, j int) bool { return order[keys[i]] < order[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d (%.2f Mb/s)", k, m.Received[k], m.ReceivedMbps[k]))
	}
	return strings.Join(parts, ", ")
}
