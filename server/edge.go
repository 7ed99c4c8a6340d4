package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// Edges (docs/CLUSTER.md, "Edges"): a viewer (WHEP or /ws) of a room not live on this node
// makes the node pull the room from the node that serves it (cluster.Edge; the cluster's owner,
// or whom Params.EdgeLocator names), and a WHEP request whose token holds the relay grant is
// another node's pull of a room here (sfu.SubscribeParams.Relay: every layer, counted as an edge,
// not a viewer). Signaling sees edgeSFU around the cluster-aware clusterSFU (cluster.go), whose
// remote seam is the Edge too.

// relayTokenTTL is the lifetime of the tokens this node mints for its pulls.
const relayTokenTTL = 5 * time.Minute

// openEdge builds the node's Edge, fills clusterSFU's remote seam with it and returns what
// signaling is given as its SFU: edgeSFU around s.csfu.
func (s *Server) openEdge() (signaling.SFU, error) {
	e, err := s.newEdge()
	if err != nil {
		return nil, err
	}
	s.edge = e
	s.csfu.remote = func(ctx context.Context, room string, _ cluster.Owner) error { return e.Ensure(ctx, room) }
	return edgeSFU{SFU: s.csfu, edge: e, log: s.log.With("component", "edge")}, nil
}

// newEdge builds the node's Edge: it pulls from the room's owner in the cluster, or from whom
// Params.EdgeLocator names (tests, trees deeper than one level).
func (s *Server) newEdge() (*cluster.Edge, error) {
	node := s.p.EdgeNode
	var loc cluster.Locator = clusterLocator{s.csfu}
	if s.p.EdgeLocator != nil {
		loc = s.p.EdgeLocator
	}
	return cluster.NewEdge(cluster.EdgeParams{
		Locator: loc, SFU: s.sfu, Self: node, Logger: s.p.Logger,
		Linger: s.p.EdgeLinger, Loopback: s.cfg.ICELoopback,
		Token: func() (string, error) {
			return s.signer.Issue(auth.AnyRoom, []auth.Grant{auth.GrantRelay}, relayTokenTTL, "node:"+node)
		},
	})
}

// clusterLocator locates rooms in the node's cluster (once Start joined it); a room this node
// owns is not to be pulled.
type clusterLocator struct{ cs *clusterSFU }

func (l clusterLocator) Owner(ctx context.Context, room string) (cluster.Owner, bool, error) {
	c := l.cs.cluster()
	if c == nil {
		return cluster.Owner{}, false, nil
	}
	o, ok, err := c.Owner(ctx, room)
	if err != nil || !ok || o.Node == c.Self().ID {
		return cluster.Owner{}, false, err
	}
	return o, true, nil
}

// Ensurer is what the signaling wrapper needs of the Edge (*cluster.Edge).
type Ensurer interface {
	Ensure(ctx context.Context, room string) error
	Await(room string) (stop func())
}

// edgeSFU is the media server signaling sees on an edge-capable node: Subscribe (and Room, which
// the /ws watch asks first) makes the room live here by pulling it when another node serves it,
// and a relay pull's Subscribe is marked as one.
type edgeSFU struct {
	signaling.SFU
	edge Ensurer
	log  *slog.Logger
}

func (w edgeSFU) Subscribe(ctx context.Context, p sfu.SubscribeParams) (*sfu.Subscriber, string, error) {
	p, err := prepareSubscribe(ctx, w.edge, p, w.log)
	if err != nil {
		return nil, "", err
	}
	return w.SFU.Subscribe(ctx, p)
}

// Watch also makes the edge pull the room as soon as another node serves it, for as long as the
// watch lasts: a /ws viewer waiting for the seller gets `live` from the local relay room.
func (w edgeSFU) Watch(room string) (<-chan sfu.Event, func()) {
	events, unwatch := w.SFU.Watch(room)
	if w.edge == nil {
		return events, unwatch
	}
	stop := w.edge.Await(room)
	return events, func() { stop(); unwatch() }
}

func (w edgeSFU) Room(name string) (sfu.RoomInfo, bool) {
	if info, ok := w.SFU.Room(name); ok || w.edge == nil {
		return info, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.edge.Ensure(ctx, name); err != nil {
		w.log.Warn("edge pull failed", "room", name, "err", err)
	}
	return w.SFU.Room(name)
}

// prepareSubscribe is the edge's part of a Subscribe, for whichever wrapper of signaling.SFU
// the node uses (the cluster-aware one calls it before its own Subscribe): it pulls the room
// if another node serves it, and marks a relay pull (relayPulls). A failed pull is the room
// not being live here (404 / "waiting"), with the reason.
func prepareSubscribe(ctx context.Context, edge Ensurer, p sfu.SubscribeParams, log *slog.Logger) (sfu.SubscribeParams, error) {
	p.Relay = isRelayPull(ctx)
	if edge == nil {
		return p, nil
	}
	if err := edge.Ensure(ctx, p.Room); err != nil {
		log.Warn("edge pull failed", "room", p.Room, "err", err)
		return p, fmt.Errorf("%w: %w", sfu.ErrRoomNotLive, err)
	}
	return p, nil
}

// relayKey marks the context of a WHEP request carrying a valid relay token.
type relayKey struct{}

func isRelayPull(ctx context.Context) bool {
	v, _ := ctx.Value(relayKey{}).(bool)
	return v
}

// Verifier checks a token (auth.Signer).
type Verifier interface {
	Verify(token string) (auth.Claims, error)
}

// relayPulls marks a WHEP POST whose bearer token grants relay on its room as another node's
// pull; signaling then handles it as any WHEP request (the token also grants subscribe).
func relayPulls(v Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if room, ok := strings.CutPrefix(r.URL.Path, "/whep/"); ok && room != "" && !strings.Contains(room, "/") {
				if tok := auth.TokenFromRequest(r); tok != "" {
					if c, err := v.Verify(tok); err == nil && c.Allows(room, auth.GrantRelay) {
						r = r.WithContext(context.WithValue(r.Context(), relayKey{}, true))
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
