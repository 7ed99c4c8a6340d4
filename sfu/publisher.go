package sfu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// PublishParams describes a request to broadcast.
type PublishParams struct {
	Room  string
	Offer string // SDP offer with sendonly/sendrecv audio and/or video
	// Owner identifies the broadcaster (e.g. the token subject or the token itself). A publish with
	// the same non-empty Owner as the live publisher takes the room over (a reconnecting seller);
	// any other publish to a live room fails with ErrRoomBusy.
	Owner string
	// Subject names the broadcaster for records (the token's subject; may be empty).
	Subject string
}

// Publisher is a live broadcast's incoming peer connection.
type Publisher struct {
	id   string
	room *room
	pc   *webrtc.PeerConnection
	// ingest is the direct receive path's state (ingestdirect.go); nil on Pion's.
	ingest *pubIngest
	once   sync.Once
	done   chan struct{}

	connected atomic.Bool
}

// ID is a random identifier of this publishing session.
func (p *Publisher) ID() string { return p.id }

// Room is the room's name.
func (p *Publisher) Room() string { return p.room.name }

// Done is closed when the broadcast has ended, for whatever reason.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// AddICECandidate adds a trickled remote candidate.
func (p *Publisher) AddICECandidate(c webrtc.ICECandidateInit) error {
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
	}
	return nil
}

// Close ends the broadcast (viewers are told and disconnected).
func (p *Publisher) Close() error {
	p.room.end("publisher stopped")
	return nil
}

func (p *Publisher) closePC() {
	p.once.Do(func() {
		p.ingest.close()
		_ = p.pc.Close()
		p.room.s.stats.publishers.Add(-1)
		close(p.done)
	})
}

// Publish starts a broadcast from an SDP offer and returns the answer (with all candidates).
func (s *SFU) Publish(ctx context.Context, p PublishParams) (*Publisher, string, error) {
	r := newRoom(s, p.Room, p.Owner, p.Subject)
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, "", ErrClosed
		}
		old := s.rooms[p.Room]
		if old == nil {
			s.rooms[p.Room] = r
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		if old.relay && attempt == 0 { // a publisher here replaces this node's pull of the room
			old.end("publisher arrived")
			continue
		}
		if p.Owner == "" || old.owner != p.Owner || attempt > 0 {
			return nil, "", ErrRoomBusy
		}
		old.end("publisher reconnected")
	}

	pub, answer, err := s.startPublisher(ctx, r, p.Offer)
	if err != nil {
		r.end("publish failed")
		return nil, "", err
	}
	return pub, answer, nil
}

func (s *SFU) startPublisher(ctx context.Context, r *room, offer string) (*Publisher, string, error) {
	conf, err := s.certs.config()
	if err != nil {
		return nil, "", err
	}
	api, ingest := s.publisherAPI(offer)
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	if ingest != nil {
		ingest.pc = pc
	}
	pub := &Publisher{id: newID(), room: r, pc: pc, ingest: ingest, done: make(chan struct{})}
	s.stats.publishers.Add(1)
	r.mu.Lock()
	r.pub = pub
	r.mu.Unlock()

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		pub.closePC()
		return nil, "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	rids := offerRIDs(offer)
	expected := 0
	for _, t := range pc.GetTransceivers() {
		if t.Direction() == webrtc.RTPTransceiverDirectionRecvonly || t.Direction() == webrtc.RTPTransceiverDirectionSendrecv {
			if len(t.Receiver().GetParameters().Codecs) > 0 {
				expected += max(1, len(rids[t.Mid()]))
			}
		}
	}
	if expected == 0 {
		pub.closePC()
		return nil, "", fmt.Errorf("%w: %v", ErrUnsupported, errNoTracks)
	}
	r.mu.Lock()
	r.expected = expected
	r.rids = rids
	r.mu.Unlock()

	pc.OnTrack(r.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			pub.connected.Store(true)
		case webrtc.PeerConnectionStateFailed:
			go r.end("publisher connection lost")
		case webrtc.PeerConnectionStateClosed:
			go r.end("publisher left")
		}
	})

	answer, err := negotiate(ctx, pc)
	if err != nil {
		pub.closePC()
		return nil, "", err
	}
	answer = withStartBitrate(answer)
	time.AfterFunc(s.cfg.ConnectTimeout, func() {
		if !pub.connected.Load() {
			r.end("publisher did not connect")
		}
	})
	s.log.Info("publisher joined", "room", r.name, "id", pub.id, "tracks", expected)
	return pub, answer, nil
}

// negotiate creates the answer and waits for ICE gathering (instant with the UDP mux).
func negotiate(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// offerRIDs lists, per mid, the simulcast RIDs (a=rid:<id> send) an offer announces.
func offerRIDs(offer string) map[string][]string {
	out := map[string][]string{}
	var sd sdp.SessionDescription
	if sd.UnmarshalString(offer) != nil {
		return out
	}
	for _, m := range sd.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		for _, a := range m.Attributes {
			if a.Key != "rid" {
				continue
			}
			if f := strings.Fields(a.Value); len(f) >= 2 && f[1] == "send" {
				out[mid] = append(out[mid], f[0])
			}
		}
	}
	return out
}
