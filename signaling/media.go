package signaling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling/wire"
)

// mediaFamily is the media message family: publish, watch, quality, candidate and stop. One
// socket publishes or watches one room at a time.
type mediaFamily struct{ s *Server }

func (mediaFamily) Types() []string {
	return []string{wire.TypePublish, wire.TypeWatch, wire.TypeQuality, wire.TypeCandidate, wire.TypeStop}
}

func (mediaFamily) Decode(env wire.Envelope) (wire.Message, error) {
	switch env.Type {
	case wire.TypePublish:
		var m wire.Publish
		if err := decodeInto(env, &m); err != nil {
			return nil, err
		}
		if !ValidRoom(m.Room) {
			return nil, fmt.Errorf("%w: %v", errBadRoom, m.Room)
		}
		if m.SDP == "" {
			return nil, fmt.Errorf("%w: publish needs an sdp offer", sfu.ErrBadOffer)
		}
		return m, nil
	case wire.TypeWatch:
		var m wire.Watch
		if err := decodeInto(env, &m); err != nil {
			return nil, err
		}
		if !ValidRoom(m.Room) {
			return nil, fmt.Errorf("%w: %v", errBadRoom, m.Room)
		}
		if _, err := sfu.ParseQuality(m.Quality); err != nil {
			return nil, err
		}
		return m, nil
	case wire.TypeQuality:
		var m wire.SetQuality
		if err := decodeInto(env, &m); err != nil {
			return nil, err
		}
		if _, err := sfu.ParseQuality(m.Quality); err != nil || m.Quality == "" {
			return nil, fmt.Errorf("%w: quality needs one of auto, high, medium, low", sfu.ErrBadQuality)
		}
		return m, nil
	case wire.TypeCandidate:
		var m wire.Candidate
		return m, decodeInto(env, &m)
	case wire.TypeStop:
		var m wire.Stop
		return m, decodeInto(env, &m)
	}
	return nil, fmt.Errorf("%w: unknown type %q", ErrProtocol, env.Type)
}

func (f mediaFamily) Open(sock Socket) Handler { return &mediaConn{s: f.s, sock: sock} }

// mediaConn is the media family's state on one socket: its publish or watch session.
type mediaConn struct {
	s    *Server
	sock Socket

	mu          sync.Mutex
	sess        session
	sessPublish bool
	room        string
	unwatch     func()
	watchDone   chan struct{}
	quality     sfu.Quality // the viewer's simulcast choice, kept across watch sessions
}

func (c *mediaConn) Close() { c.endSession() }

func (c *mediaConn) Handle(m wire.Message) {
	switch m := m.(type) {
	case wire.Stop:
		c.endSession()
	case wire.Candidate:
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if sess == nil || m.Candidate == nil || m.Candidate.Candidate == "" {
			return // nothing to trickle into, or end-of-candidates
		}
		if err := sess.AddICECandidate(*m.Candidate); err != nil {
			c.sock.SendError(err)
		}
	case wire.SetQuality:
		c.setQuality(sfu.Quality(m.Quality))
	case wire.Publish:
		if !c.s.drainingSocket(c.sock) { // drain.go
			c.publish(m)
		}
	case wire.Watch:
		if !c.s.drainingSocket(c.sock) {
			c.watch(m)
		}
	}
}

func (c *mediaConn) tokenOf(token string) string {
	if token != "" {
		return token
	}
	return c.sock.Token()
}

func (c *mediaConn) publish(m wire.Publish) {
	c.endSession()
	token := c.tokenOf(m.Token)
	claims, err := c.s.p.Auth.Authorize(token, m.Room, auth.GrantPublish)
	if err != nil {
		c.sock.SendError(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.p.NegotiateTimeout)
	defer cancel()
	pub, answer, err := c.s.p.SFU.Publish(ctx, sfu.PublishParams{Room: m.Room, Offer: m.SDP, Owner: owner(claims, token), Subject: claims.Subject})
	if err != nil {
		c.sock.SendError(err)
		return
	}
	c.setSession(pub, true, m.Room)
	c.sock.Send(wire.Answer{SDP: answer})
}

func (c *mediaConn) watch(m wire.Watch) {
	c.endSession()
	if c.s.p.ViewerAuth {
		if _, err := c.s.p.Auth.Authorize(c.tokenOf(m.Token), m.Room, auth.GrantSubscribe); err != nil {
			c.sock.SendError(err)
			return
		}
	}
	c.follow(m.Room, false)
	if m.SDP == "" {
		if info, ok := c.s.p.SFU.Room(m.Room); ok {
			c.sock.Send(statusMsg(info))
			c.sock.Send(wire.Live{Room: m.Room})
		} else {
			c.sock.Send(wire.Waiting{Room: m.Room})
		}
		return
	}
	c.mu.Lock()
	if m.Quality != "" {
		c.quality = sfu.Quality(m.Quality)
	}
	q := c.quality
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.s.p.NegotiateTimeout)
	defer cancel()
	var self atomic.Pointer[sfu.Subscriber]
	onLayer := func(st sfu.LayerState) {
		sub := self.Load()
		c.mu.Lock()
		current := sub != nil && c.sess == session(sub)
		c.mu.Unlock()
		if current {
			c.sock.Send(layerMsg(st))
		}
	}
	sub, answer, err := c.s.p.SFU.Subscribe(ctx, sfu.SubscribeParams{Room: m.Room, Offer: m.SDP, Quality: q, OnLayer: onLayer})
	self.Store(sub)
	if errors.Is(err, sfu.ErrRoomNotLive) {
		c.sock.Send(wire.Waiting{Room: m.Room})
		return
	}
	if err != nil {
		c.sock.SendError(err)
		return
	}
	c.mu.Lock()
	c.sess, c.sessPublish = sub, false
	c.mu.Unlock()
	c.sock.Send(wire.Answer{SDP: answer})
	if st, ok := sub.Layer(); ok {
		c.sock.Send(layerMsg(st))
	}
	if info, ok := c.s.p.SFU.Room(m.Room); ok {
		c.sock.Send(statusMsg(info))
	}
}

// setQuality applies a viewer's simulcast choice to its session (and to later ones).
func (c *mediaConn) setQuality(q sfu.Quality) {
	c.mu.Lock()
	c.quality = q
	sess, publish := c.sess, c.sessPublish
	c.mu.Unlock()
	if sub, ok := sess.(*sfu.Subscriber); ok && !publish {
		if err := sub.SetQuality(q); err != nil {
			c.sock.SendError(err)
			return
		}
		if st, ok := sub.Layer(); ok {
			c.sock.Send(layerMsg(st))
		}
	}
}

func layerMsg(st sfu.LayerState) wire.Layer {
	return wire.Layer{Quality: string(st.Quality), Layer: st.Layer, Layers: st.Layers, AudioOnly: st.AudioOnly}
}

func statusMsg(info sfu.RoomInfo) wire.Status {
	return wire.Status{Room: info.Room, Live: true, Viewers: info.Viewers, Since: info.Since}
}

func (c *mediaConn) setSession(sess session, publish bool, room string) {
	c.mu.Lock()
	c.sess, c.sessPublish = sess, publish
	c.mu.Unlock()
	c.follow(room, true)
}

// follow forwards the room's events to this socket until the session ends or another begins.
func (c *mediaConn) follow(room string, publisher bool) {
	events, unwatch := c.s.p.SFU.Watch(room)
	stop := make(chan struct{})
	c.mu.Lock()
	c.room, c.unwatch, c.watchDone = room, unwatch, stop
	c.mu.Unlock()
	done := c.sock.Done()
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-done:
				return
			case ev := <-events:
				switch ev.Kind {
				case sfu.EventLive:
					if !publisher {
						c.sock.Send(wire.Live{Room: room})
					}
				case sfu.EventStatus:
					c.sock.Send(wire.Status{Room: room, Live: ev.Live, Viewers: ev.Viewers, Since: ev.Since})
				case sfu.EventEnded:
					c.mu.Lock()
					if c.sess != nil {
						c.sess = nil
					}
					c.mu.Unlock()
					c.sock.Send(wire.Ended{Room: room, Reason: ev.Reason})
					if publisher {
						return
					}
				}
			}
		}
	}()
}

// endSession closes the current publish/watch session and stops following its room.
func (c *mediaConn) endSession() {
	c.mu.Lock()
	sess, unwatch, stop := c.sess, c.unwatch, c.watchDone
	c.sess, c.unwatch, c.watchDone = nil, nil, nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if unwatch != nil {
		unwatch()
	}
	if sess != nil {
		_ = sess.Close()
	}
}
