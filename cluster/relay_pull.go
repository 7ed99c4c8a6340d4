package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/sfu"
)

// pullSlots are the receivers a pull offers: the origin fills one per track and simulcast layer
// (sfu.SubscribeParams.Relay) and leaves the rest inactive.
var pullSlots = []webrtc.RTPCodecType{
	webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeAudio,
	webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeVideo,
}

// pull is one room pulled from another node: a WHEP session there, a Relay room here.
type pull struct {
	e    *Edge
	room string
	log  *slog.Logger

	ready chan struct{} // closed when started (err says how)
	err   error

	pc       *webrtc.PeerConnection
	relay    *sfu.Relay
	location string // the WHEP session URL, for the DELETE
	token    string
	from     Owner
}

// run starts the pull, then watches it until it stops.
func (p *pull) run() {
	defer p.e.wg.Done()
	late, err := p.start()
	if err != nil || p.relay == nil {
		p.err = err
		if err != nil {
			p.log.Warn("pull failed", "err", err)
		}
		p.e.forget(p)
		p.stopSession()
		close(p.ready)
		return
	}
	close(p.ready)
	p.watch(late)
}

// start locates the room and pulls it. Without an error and with p.relay nil, nothing is to
// be pulled (no owner, this node, or the room went live here meanwhile).
func (p *pull) start() (<-chan *sfu.PulledTrack, error) {
	e := p.e
	ctx, cancel := context.WithTimeout(e.ctx, e.p.PullTimeout)
	defer cancel()
	owner, ok, err := e.locate(ctx, p.room)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLocate, err)
	}
	if !ok || owner.Node == e.p.Self || owner.URL == "" {
		return nil, nil
	}
	p.from = owner
	if p.token, err = e.p.Token(); err != nil {
		return nil, pullError("token: %v", err)
	}
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, pullError("peer connection: %v", err)
	}
	p.pc = pc
	for _, k := range pullSlots {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, pullError("transceiver: %v", err)
		}
	}
	tracks := make(chan *sfu.PulledTrack, len(pullSlots))
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if pt, ok := sfu.NewPulledTrack(t, pc); ok {
			select {
			case tracks <- pt:
			default:
			}
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed:
			// The owner went silent: closing ends every pulled track, so the room ends.
			go pc.Close()
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, pullError("offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, pullError("offer: %v", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, pullError("gathering candidates: %v", ctx.Err())
	}
	answer, err := p.whep(ctx, owner, pc.LocalDescription().SDP)
	if err != nil {
		return nil, err
	}
	want := sfu.RelayTrackCount(answer)
	if want == 0 {
		return nil, pullError("%s answered without relay tracks", owner.Node)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return nil, pullError("answer of %s: %v", owner.Node, err)
	}
	var got []*sfu.PulledTrack
	var wait <-chan time.Time
	for len(got) < want {
		select {
		case t := <-tracks:
			got = append(got, t)
			if wait == nil {
				wait = time.After(e.p.TrackWait)
			}
			continue
		case <-wait:
		case <-ctx.Done():
			if len(got) == 0 {
				return nil, pullError("no track from %s: %v", owner.Node, ctx.Err())
			}
		}
		break
	}
	in := make([]sfu.IncomingTrack, len(got))
	for i, t := range got {
		in[i] = t
	}
	relay, err := e.p.SFU.Relay(ctx, sfu.RelayParams{Room: p.room, Tracks: in, Order: sfu.RelayOrder(got), Lost: p.lostReason})
	if errors.Is(err, sfu.ErrRoomBusy) {
		return nil, nil // live here meanwhile (a publisher): nothing to pull
	}
	if err != nil {
		return nil, pullError("relay room: %v", err)
	}
	p.relay = relay
	p.log.Info("pulling room", "from", owner.Node, "url", owner.URL, "tracks", len(got), "announced", want)
	return tracks, nil
}

// ReasonOriginLost ends an edge's relay room whose pull broke while the room is not over: its
// origin died or stopped answering (the seller's page moves to another node) or the path broke.
// The edge's viewers are told to wait for the room to come back (it does, through the same
// socket, as soon as another node serves it) instead of that the show ended.
const ReasonOriginLost = "origin lost"

// lostCheck bounds the question lostReason asks the origin.
const lostCheck = 800 * time.Millisecond

// lostReason is RelayParams.Lost: asked when the pull broke, the origin says whether the room
// ended there (the show is over: the normal end) or is still live; no answer means the origin is
// gone and the show will be back on another node.
func (p *pull) lostReason() string {
	ctx, cancel := context.WithTimeout(p.e.ctx, lostCheck)
	defer cancel()
	u := strings.TrimRight(p.from.URL, "/") + "/internal/rooms/" + url.PathEscape(p.room)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ReasonOriginLost
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := p.e.p.HTTPClient.Do(req)
	if err != nil {
		p.log.Info("pull broke and the origin does not answer", "from", p.from.Node, "err", err)
		return ReasonOriginLost
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK: // still live there: the path broke
		return ReasonOriginLost
	case http.StatusNotFound: // over there: the viewers get the normal end
		return ""
	default:
		return ReasonOriginLost
	}
}

// whep posts the offer to the owner and returns the answer, keeping the session's URL.
func (p *pull) whep(ctx context.Context, owner Owner, offer string) (string, error) {
	u := strings.TrimRight(owner.URL, "/") + "/whep/" + url.PathEscape(p.room)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewBufferString(offer))
	if err != nil {
		return "", pullError("request: %v", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := p.e.p.HTTPClient.Do(req)
	if err != nil {
		return "", pullError("WHEP to %s: %v", owner.Node, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", pullError("WHEP to %s: %d %s", owner.Node, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if l, err := resp.Request.URL.Parse(loc); err == nil {
			p.location = l.String()
		}
	}
	return string(body), nil
}

// watch adds late tracks and stops the pull when the room ended (the pull broke, a publisher
// took the room here, an admin ended it) or nobody watched it for Linger.
func (p *pull) watch(late <-chan *sfu.PulledTrack) {
	e := p.e
	every := min(e.p.Linger/4, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	idle := time.Now() // the first viewer's Subscribe follows its Ensure
	reason := ""
	for reason == "" {
		select {
		case t := <-late:
			p.relay.AddTrack(t)
		case <-p.relay.Done():
			reason = "room ended"
		case <-e.ctx.Done():
			reason = "edge closing"
		case <-tick.C:
			info, ok := e.p.SFU.Room(p.room)
			switch {
			case !ok:
				reason = "room ended"
			case info.Viewers+info.Edges > 0:
				idle = time.Time{}
			case idle.IsZero():
				idle = time.Now()
			case time.Since(idle) >= e.p.Linger:
				reason = "no viewers"
			}
		}
	}
	e.forget(p)
	p.relay.End("relay stopped: " + reason)
	p.stopSession()
	p.log.Info("pull stopped", "from", p.from.Node, "reason", reason)
}

// stopSession closes the peer connection and deletes the WHEP session at the owner.
func (p *pull) stopSession() {
	if p.pc != nil {
		_ = p.pc.Close()
	}
	if p.location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, p.location, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if resp, err := p.e.p.HTTPClient.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}
