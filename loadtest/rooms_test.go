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

// TestRunManyRooms: --rooms 4 --viewers-per-room 3 against a real server: four rooms go live,
// each with its own publisher, every viewer plays its room, and the report has one line per
// room with its viewers, packets and first keyframe, besides the totals.
func TestRunManyRooms(t *testing.T) {
	srv := testserver.Start(t, nil)
	tok := testserver.Token(t, srv, auth.AnyRoom, auth.GrantPublish)
	p := loadtest.Params{
		URL: srv.URL(), Room: "eve", Token: tok, Rooms: 4, ViewersPerRoom: 3, Duration: 3 * time.Second, Ramp: 30,
		Warmup: time.Second, ServerPID: os.Getpid(), ViewerKind: loadtest.ViewerLean,
		Thresholds: loadtest.Thresholds{MaxLossPct: 5, MaxFirstKeyframeP95: 3 * time.Second},
	}
	seen := map[string]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the rooms are live on the server while the run holds
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, r := range srv.SFU().Rooms() {
				if strings.HasPrefix(r.Room, "eve-") && r.Viewers > 0 {
					seen[r.Room] = true
				}
			}
		}
	}()
	rep, err := loadtest.Run(context.Background(), p)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if rep.Params.Rooms != 4 || rep.Synthetic.Target != 12 || rep.Synthetic.Connected != 12 {
		t.Fatalf("rooms %d, viewers %d of %d joined", rep.Params.Rooms, rep.Synthetic.Connected, rep.Synthetic.Target)
	}
	if len(seen) != 4 {
		t.Errorf("rooms live with viewers on the server: %v, want eve-1 … eve-4", seen)
	}
	// The rooms are eve-1 … eve-4: the report finds their recording (it asked for "eve").
	if rep.Recording == nil || !rep.Recording.Recorded {
		t.Errorf("recording: %+v", rep.Recording)
	}
	if len(rep.Rooms) != 4 {
		t.Fatalf("report rooms: %+v", rep.Rooms)
	}
	for _, r := range rep.Rooms {
		if r.Target != 3 || r.Connected != 3 || r.Packets == 0 || r.FirstKeyframeP95 <= 0 {
			t.Errorf("room %+v: want 3 of 3 viewers receiving, with a first keyframe", r)
		}
	}
	if !rep.Pass {
		t.Errorf("the run did not pass: %+v", rep.Checks)
	}
	var html strings.Builder
	if err := rep.WriteHTML(&html); err != nil || !strings.Contains(html.String(), "eve-4") {
		t.Errorf("HTML report without the rooms table (%v)", err)
	}
}

func TestManyRoomsParams(t *testing.T) {
	base := loadtest.Params{URL: "http://127.0.0.1:1", Room: "r", Token: "t", Viewers: 4}
	for _, tc := range []struct {
		name string
		mut  func(*loadtest.Params)
		ok   bool
	}{
		{"rooms 2", func(p *loadtest.Params) { p.Rooms = 2 }, true},
		{"too many rooms", func(p *loadtest.Params) { p.Rooms = 1001 }, false},
		{"browser publisher in many rooms", func(p *loadtest.Params) { p.Rooms, p.Publisher = 3, loadtest.PublisherBrowser }, false},
		{"live scenario in many rooms", func(p *loadtest.Params) { p.Rooms, p.Bidders = 3, 5 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.mut(&p)
			err := p.WithDefaults().Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok %v", err, tc.ok)
			}
		})
	}
	if n := (loadtest.Params{Rooms: 5, ViewersPerRoom: 4}).WithDefaults().Viewers; n != 20 {
		t.Errorf("5 rooms × 4 viewers = %d viewers", n)
	}
	if got := (loadtest.Params{Room: "r", Rooms: 3}).RoomName(2); got != "r-3" {
		t.Errorf("RoomName(2) = %q", got)
	}
}
