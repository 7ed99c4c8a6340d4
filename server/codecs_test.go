package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
)

// Every codec relaycast accepts goes from a WHIP publisher to a WHEP viewer unchanged.
func TestCodecsEndToEnd(t *testing.T) {
	s := start(t, nil)
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264, webrtc.MimeTypeAV1} {
		t.Run(mime, func(t *testing.T) {
			room := "codec-" + strings.ToLower(strings.TrimPrefix(mime, "video/"))
			pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, VideoMime: mime})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := pub.Connect(ctx, client.WHIP(nil, s.url+"/whip/"+room, s.token(t, room, auth.GrantPublish), nil)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room(room); return ok })
			v, _, err := whepWatch(t, s, room, "")
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "video packets", func() bool { return v.Stats().VideoPackets > 20 && v.Stats().AudioPackets > 5 })
			st := v.Stats()
			found := false
			for _, tr := range st.Tracks {
				if strings.EqualFold(tr, mime) {
					found = true
				}
			}
			if !found {
				t.Errorf("viewer tracks %v, want %s", st.Tracks, mime)
			}
		})
	}
}
