package server

import (
	"context"
	"time"
)

// drainPoll is how often a draining node looks whether its sessions have gone.
const drainPoll = 100 * time.Millisecond

// Drain takes the node out of its cluster gently, before Shutdown (docs/CLUSTER.md, "Draining a
// node"): /readyz answers 503 at once (the load balancer stops sending new requests here),
// signaling refuses new sessions and tells every page to reconnect (signaling.Server.Drain:
// through the balancer, they reach another node; a seller's page publishes there under the
// takeover rule), and Drain waits until the node's WHIP/WHEP sessions and WebSockets are gone or
// ctx is done. It reports how many were left. Run calls it on SIGTERM for a node with
// --redis-url (a cluster member), bounded by --drain-timeout; Shutdown follows as before.
func (s *Server) Drain(ctx context.Context) (sessions, sockets int) {
	s.ready.Store(false)
	s.markClusterDraining()
	s.sig.Drain()
	start := time.Now()
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		sessions, sockets = s.sig.Active()
		if sessions+sockets == 0 {
			s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String())
			return 0, 0
		}
		select {
		case <-ctx.Done():
			s.log.Warn("drain timeout: shutting down with sessions left", "sessions", sessions, "sockets", sockets,
				"took", time.Since(start).Round(time.Millisecond).String())
			return sessions, sockets
		case <-t.C:
		}
	}
}

// Draining reports whether Drain ran (the node refuses new sessions).
func (s *Server) Draining() bool { return s.sig.Draining() }

// markClusterDraining marks this node's membership entry Draining (K1:
// cluster.Cluster.SetDraining, published with its next heartbeat) so that routing sends no new
// room or edge pull here.
func (s *Server) markClusterDraining() { s.SetDraining(true) }

// drainOnStop runs the drain of Run's shutdown path: only for a cluster member (--redis-url;
// a lone node has nowhere to send its clients) with --drain-timeout > 0.
func (s *Server) drainOnStop() {
	if s.cfg.DrainTimeout <= 0 || s.cfg.RedisURL == "" || s.httpSrv == nil {
		return
	}
	s.log.Info("draining (signal again to skip)", "timeout", s.cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	if s.p.Hurry != nil {
		go func() {
			select {
			case <-s.p.Hurry:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	s.Drain(ctx)
}

// Sessions is how many WHIP/WHEP sessions and WebSockets the node holds now.
func (s *Server) Sessions() (sessions, sockets int) { return s.sig.Active() }
