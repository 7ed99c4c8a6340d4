package loadtest

import "github.com/relaycast/relaycast/client"

// GeneratorSummary is the lean viewers' socket reads in the hold window: with UDP GRO on
// (client.ViewerParams.LeanNoGRO false) a GSO message from the server is one read.
type GeneratorSummary struct {
	GRO             bool    `json:"gro"`
	Reads           int64   `json:"reads"`             // socket reads that returned data
	CoalescedReads  int64   `json:"coalesced_reads"`   // of which held more than one datagram
	Datagrams       int64   `json:"datagrams"`         // datagrams they held
	SegmentsPerRead float64 `json:"segments_per_read"` // datagrams / reads
}

// markViewers snapshots every viewer's stats (the start of the hold window).
func (s *synthPool) markViewers() map[*synthViewer]client.Stats {
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	m := make(map[*synthViewer]client.Stats, len(vs))
	for _, sv := range vs {
		m[sv] = sv.v.Stats()
	}
	return m
}

// generator sums the lean viewers' reads since mark.
func (s *synthPool) generator(mark map[*synthViewer]client.Stats) *GeneratorSummary {
	if !s.p.lean() {
		return nil
	}
	g := &GeneratorSummary{GRO: !s.p.LeanNoGRO}
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	for _, sv := range vs {
		st, m0 := sv.v.Stats(), mark[sv]
		g.Reads += st.Reads - m0.Reads
		g.CoalescedReads += st.CoalescedReads - m0.CoalescedReads
		g.Datagrams += st.Datagrams - m0.Datagrams
	}
	if g.Reads > 0 {
		g.SegmentsPerRead = round3(float64(g.Datagrams) / float64(g.Reads))
	}
	return g
}

// holdExtras adds the simulcast layer mix, the generator's reads and the viewers' RTCP to the report.
func (s *synthPool) holdExtras(rep *Report, mark map[*synthViewer]client.Stats, dt float64) {
	rep.Generator = s.generator(mark)
	rep.RTCP = s.rtcpSummary(mark, dt) // rtcp.go
	if s.p.Simulcast || s.p.Quality != "" {
		rep.Layers = s.layerMix(mark, dt)
	}
}
