package loadtest

import "github.com/relaycast/relaycast/client"

// ViewerLeanRTCP viewers are lean viewers that send RTCP as Chromium's receive side does
// (client.ViewerParams.LeanRTCP): receiver reports per SSRC every second, NACKs on loss, REMB
// and transport-cc feedback when the server negotiates them.
const ViewerLeanRTCP = "lean-rtcp"

// Server metrics of the RTCP viewers send (sfu/rtcp.go).
const (
	mReceiverReports = "relaycast_rtcp_receiver_reports_total"
	mNACKed          = "relaycast_nack_packets_total"
	mResent          = "relaycast_rtp_packets_resent_total"
)

// lean is whether the synthetic viewers are lean ones (with or without RTCP).
func (p Params) lean() bool { return p.ViewerKind == ViewerLean || p.ViewerKind == ViewerLeanRTCP }

// RTCPSummary is what the lean-RTCP viewers sent in the hold window and what the server made of
// it: the rates are totals over all viewers per second.
type RTCPSummary struct {
	Viewers         int     `json:"viewers"`
	ReceiverReports int64   `json:"receiver_reports"`
	RRPerSecond     float64 `json:"rr_per_second"`
	REMBs           int64   `json:"rembs"`
	REMBPerSecond   float64 `json:"remb_per_second"`
	NACKPackets     int64   `json:"nack_packets"`
	NACKPerSecond   float64 `json:"nack_per_second"`
	NACKedSeqs      int64   `json:"nacked_seqs"`
	TWCCFeedback    int64   `json:"twcc_feedback"`
	TWCCPerSecond   float64 `json:"twcc_per_second"`
	Retransmits     int64   `json:"retransmits_received"` // NACKed packets that then arrived
	SenderReports   int64   `json:"sender_reports_received"`
	Dropped         int64   `json:"dropped_on_purpose"` // --lean-drop-every
	SendErrors      int64   `json:"send_errors"`
	REMBNegotiated  bool    `json:"remb_negotiated"`
	TWCCNegotiated  bool    `json:"twcc_negotiated"` // false: the server offers viewers no transport-cc, none is sent
	// From the server's /metrics over the same window (all viewers of the server).
	ServerMeasured        bool    `json:"server_measured"`
	ServerRRPerSecond     float64 `json:"server_rr_per_second"`
	ServerNACKedPerSecond float64 `json:"server_nacked_per_second"`
	ServerResentPerSecond float64 `json:"server_resent_per_second"`
}

// rtcpSummary sums the lean-RTCP viewers' RTCP since mark (nil for other viewers).
func (s *synthPool) rtcpSummary(mark map[*synthViewer]client.Stats, dt float64) *RTCPSummary {
	if s.p.ViewerKind != ViewerLeanRTCP {
		return nil
	}
	r := &RTCPSummary{}
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	for _, sv := range vs {
		st, m0 := sv.v.Stats().RTCP, mark[sv].RTCP
		r.Viewers++
		r.ReceiverReports += st.ReceiverReports - m0.ReceiverReports
		r.REMBs += st.REMBs - m0.REMBs
		r.NACKPackets += st.NACKPackets - m0.NACKPackets
		r.NACKedSeqs += st.NACKedSeqs - m0.NACKedSeqs
		r.TWCCFeedback += st.TWCCFeedback - m0.TWCCFeedback
		r.Retransmits += st.Retransmits - m0.Retransmits
		r.SenderReports += st.SenderReports - m0.SenderReports
		r.Dropped += st.Dropped - m0.Dropped
		r.SendErrors += st.SendErrors - m0.SendErrors
		r.REMBNegotiated = r.REMBNegotiated || st.REMBNegotiated
		r.TWCCNegotiated = r.TWCCNegotiated || st.TWCCNegotiated
	}
	if dt > 0 {
		r.RRPerSecond = round3(float64(r.ReceiverReports) / dt)
		r.REMBPerSecond = round3(float64(r.REMBs) / dt)
		r.NACKPerSecond = round3(float64(r.NACKPackets) / dt)
		r.TWCCPerSecond = round3(float64(r.TWCCFeedback) / dt)
	}
	return r
}

// addServer adds the server's RTCP counters over the hold window.
func (r *RTCPSummary) addServer(a, b serverSample, dt float64) {
	if r == nil || !a.ok || !b.ok || dt <= 0 {
		return
	}
	r.ServerMeasured = true
	r.ServerRRPerSecond = round3(rate(a, b, mReceiverReports))
	r.ServerNACKedPerSecond = round3(rate(a, b, mNACKed))
	r.ServerResentPerSecond = round3(rate(a, b, mResent))
}
