package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

// A lean-RTCP viewer against a real SFU: the server counts its receiver reports (one per
// stream per second), a video packet the viewer drops on purpose is NACKed and retransmitted
// by the server (the server's NACK and resent counters move, and the viewer sees the packet
// come back), and no TWCC is sent because the server does not negotiate it to viewers.
func TestLeanRTCPViewer(t *testing.T) {
	for _, pionSend := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "pion"}[pionSend], func(t *testing.T) { testLeanRTCP(t, pionSend) })
	}
}

func testLeanRTCP(t *testing.T, pionSend bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	s := liveSFU(t, ctx, "rtcp", pionSend)
	before := s.Stats()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, Lean: true, LeanRTCP: true, LeanDropEvery: 50, TrackRecovery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		_, a, err := s.Subscribe(ctx, sfu.SubscribeParams{Room: "rtcp", Offer: offer})
		return a, err
	}); err != nil {
		t.Fatal(err)
	}
	var st client.Stats
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st = v.Stats()
		srv := s.Stats()
		if st.RTCP.ReceiverReports >= 6 && st.RTCP.Retransmits >= 3 && srv.ReceiverReports-before.ReceiverReports >= 6 && srv.Resent-before.Resent >= 3 && st.FirstKeyframe > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer %+v; server RRs %d, NACKed %d, resent %d", st, srv.ReceiverReports-before.ReceiverReports, srv.NACKs-before.NACKs, srv.Resent-before.Resent)
		}
	}
	srv := s.Stats()
	r := st.RTCP
	if sent := v.Stats().RTCP.ReceiverReports; srv.ReceiverReports-before.ReceiverReports > uint64(sent) {
		t.Errorf("server counted %d receiver reports, the viewer sent %d (Pion's interceptors must not send their own)", srv.ReceiverReports-before.ReceiverReports, sent)
	}
	if st.Lost < 0 || st.Lost > 2 {
		t.Errorf("lost %d: what came back must not count", st.Lost)
	}
	if r.Dropped == 0 || r.NACKPackets == 0 || r.NACKedSeqs < r.Retransmits {
		t.Errorf("dropped %d, NACK packets %d for %d seqs, retransmits %d", r.Dropped, r.NACKPackets, r.NACKedSeqs, r.Retransmits)
	}
	if srv.NACKs-before.NACKs < uint64(r.Retransmits) {
		t.Errorf("server saw %d NACKed packets, the viewer got %d back", srv.NACKs-before.NACKs, r.Retransmits)
	}
	if r.SenderReports == 0 {
		t.Errorf("no sender reports read from the server (LSR/DLSR stay 0)")
	}
	if r.SendErrors != 0 {
		t.Errorf("%d RTCP send errors", r.SendErrors)
	}
	if r.TWCCNegotiated || r.TWCCFeedback != 0 {
		t.Errorf("TWCC negotiated %v, %d feedback packets: the server offers no transport-cc to viewers", r.TWCCNegotiated, r.TWCCFeedback)
	}
	if !r.REMBNegotiated || r.REMBs == 0 {
		t.Errorf("REMB negotiated %v, %d sent", r.REMBNegotiated, r.REMBs)
	}
	// Everything dropped on purpose but the newest few came back.
	if miss, span := v.Missing(200); miss != 0 {
		t.Errorf("%d of %d video packets never recovered", miss, span)
	}
	t.Logf("viewer %+v; server RRs %d, NACKed %d, resent %d", r, srv.ReceiverReports-before.ReceiverReports, srv.NACKs-before.NACKs, srv.Resent-before.Resent)
}
