package loadtest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/loadtest"
)

// TestRunRoomsLeanRTCP: --viewer lean-rtcp over two rooms against a real server: the report
// shows the viewers' receiver reports and REMBs per second, the server's /metrics count the same
// receiver reports, the packets the viewers drop on purpose are NACKed and come back (the
// server's resent counter moves; the loss counts only what never came back), and no TWCC is
// sent because the server does not negotiate transport-cc to viewers.
func TestRunRoomsLeanRTCP(t *testing.T) {
	srv := testserver.Start(t, nil)
	tok := testserver.Token(t, srv, auth.AnyRoom, auth.GrantPublish)
	p := loadtest.Params{
		URL: srv.URL(), Room: "rtcp", Token: tok, Rooms: 2, ViewersPerRoom: 3, Duration: 4 * time.Second, Ramp: 30,
		Warmup: time.Second, ServerPID: os.Getpid(), ViewerKind: loadtest.ViewerLeanRTCP, LeanDropEvery: 100,
		Thresholds: loadtest.Thresholds{MaxLossPct: 5, MaxFirstKeyframeP95: 3 * time.Second},
	}
	rep, err := loadtest.Run(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Synthetic.Connected != 6 {
		t.Fatalf("%d of 6 viewers joined", rep.Synthetic.Connected)
	}
	r := rep.RTCP
	if r == nil {
		t.Fatal("no rtcp section in the report")
	}
	// 6 viewers × 2 streams × 1/s; the hold window's edges may cut one report each way.
	if r.RRPerSecond < 8 || r.RRPerSecond > 16 {
		t.Errorf("viewers sent %.1f receiver reports/s, want about 12", r.RRPerSecond)
	}
	if !r.ServerMeasured || r.ServerRRPerSecond < 0.6*r.RRPerSecond {
		t.Errorf("server counted %.1f RR/s (measured %v), viewers sent %.1f", r.ServerRRPerSecond, r.ServerMeasured, r.RRPerSecond)
	}
	if r.Dropped == 0 || r.NACKPackets == 0 || r.Retransmits == 0 || r.ServerResentPerSecond <= 0 {
		t.Errorf("dropped %d, NACK packets %d, retransmits %d, server resent %.2f/s: NACKs not answered", r.Dropped, r.NACKPackets, r.Retransmits, r.ServerResentPerSecond)
	}
	if r.TWCCNegotiated || r.TWCCFeedback != 0 || !r.REMBNegotiated || r.REMBs == 0 || r.SendErrors != 0 || r.SenderReports == 0 {
		t.Errorf("rtcp %+v: want REMB and no TWCC (as negotiated), sender reports read, no send errors", r)
	}
	if rep.Synthetic.LossPct > 0.5 {
		t.Errorf("loss %.3f%% although every dropped packet is NACKed", rep.Synthetic.LossPct)
	}
	var html strings.Builder
	if err := rep.WriteHTML(&html); err != nil || !strings.Contains(html.String(), "receiver reports") {
		t.Errorf("HTML report without the RTCP table (%v)", err)
	}
	t.Logf("rtcp %+v, loss %.3f%%", *r, rep.Synthetic.LossPct)
}
