package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/httpapi"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
)

// The cluster wiring (docs/CLUSTER.md, "Room ownership and publishing"): every node runs the
// cluster code on its one Redis (the embedded one too: a cluster of one), and signaling and
// the REST API see the SFU through clusterSFU, which claims a room's lease before a publish,
// follows the takeover rule through the owner node or redirects to it, renews the lease while
// the room is live and releases it when the room ends.

// Reasons a local room is ended for by the cluster.
const (
	reasonMoved     = "publisher moved to another node"
	reasonFencedOut = "another node owns the room"
)

// RemoteFunc makes a room that another node owns live in the local SFU (the edge relay pulls
// it from owner) before a local viewer subscribes; it returns once the room is live here, or an
// error.
type RemoteFunc func(ctx context.Context, room string, owner cluster.Owner) error

// clusterSFU is the SFU as signaling (signaling.SFU) and the REST API (httpapi.Rooms,
// httpapi.ClusterRooms) see it on a node of a cluster.
type clusterSFU struct {
	*sfu.SFU // Watch, Room, EndRoom, Stats: the local SFU's
	signer   *auth.Signer
	log      *slog.Logger
	client   *http.Client

	// remote is the seam of the edge relay (cluster/edge.go, wired in server/edge.go): when set,
	// Subscribe to a room another live node owns calls it first, then subscribes locally. When
	// nil, such a viewer is redirected to the owner (signaling.Redirect: WHEP 307, /ws
	// "redirect"). Set it before the server starts serving.
	remote RemoteFunc

	mu     sync.Mutex
	c      *cluster.Cluster // nil until Start (the node's URL and id need its listen port)
	rooms  map[string]*origin
	closed bool
	wg     sync.WaitGroup

	publishing roomLocks // one publish at a time per room on this node (claim, then the SFU)
}

// roomLocks is a lock per room name, dropped when nobody holds or waits for it.
type roomLocks struct {
	mu sync.Mutex
	m  map[string]*roomLock
}

type roomLock struct {
	sem  chan struct{} // holds one token while locked
	refs int
}

// lock locks room (waiting at most until ctx is done) and returns its unlock.
func (l *roomLocks) lock(ctx context.Context, room string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*roomLock{}
	}
	rl := l.m[room]
	if rl == nil {
		rl = &roomLock{sem: make(chan struct{}, 1)}
		l.m[room] = rl
	}
	rl.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		if rl.refs--; rl.refs == 0 {
			delete(l.m, room)
		}
		l.mu.Unlock()
	}
	select {
	case rl.sem <- struct{}{}:
		return func() { <-rl.sem; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// origin is a room this node is the origin of: its publisher and its lease.
type origin struct {
	room      string
	owner     string // hash of the publisher's identity (sfu.PublishParams.Owner)
	pub       *sfu.Publisher
	lease     *cluster.Lease
	replacing bool          // a publish of the same identity on this node is taking it over
	released  chan struct{} // closed once the lease is released
}

func newClusterSFU(s *sfu.SFU, signer *auth.Signer, log *slog.Logger) *clusterSFU {
	return &clusterSFU{SFU: s, signer: signer, log: log.With("component", "cluster-sfu"),
		client: &http.Client{Timeout: 5 * time.Second}, rooms: map[string]*origin{}}
}

// startCluster joins the cluster on the node's Redis, once the listener has its port: the
// node id defaults to <hostname>-<port>, its URL to --internal-url, else the server's URL.
func (s *Server) startCluster() error {
	cfg := s.cfg
	cfg.HTTPAddr = s.ln.Addr().String()
	self := cluster.Node{ID: cfg.NodeIDOrDefault(), URL: s.URL(), Capacity: cfg.NodeCapacity}
	if cfg.InternalURL != "" {
		self.URL = cfg.InternalURLOrDefault()
	}
	// The cluster's own client: its heartbeats and renewals never queue behind the pipeline's.
	rdb := clusterRedis(s.redisOpt) // cluster_redis.go
	c, err := cluster.New(cluster.Params{Redis: rdb, Prefix: cluster.DefaultPrefix, Self: self, Logger: s.p.Logger,
		Stats: func() (int, int) { st := s.sfu.Stats(); return st.Rooms, int(st.Viewers) }})
	if err != nil {
		_ = rdb.Close()
		return err
	}
	s.clusterRDB = rdb
	s.csfu.mu.Lock()
	s.csfu.c = c
	s.csfu.mu.Unlock()
	s.log.Info("joined the cluster", "node", self.ID, "url", self.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if nodes, err := c.Nodes(ctx); err == nil {
		for _, n := range nodes {
			if n.ID != self.ID && n.URL == self.URL {
				s.log.Warn("another node has the same URL: nodes reach each other there (handovers, edge pulls), so give each its own --internal-url (with --public-url the balancer's)",
					"url", self.URL, "other", n.ID)
			}
		}
	}
	return nil
}

// closeCluster waits for the rooms' lease goroutines (the SFU has ended the rooms, so their
// leases are released), then leaves the cluster (its heartbeat stops; it is dropped after
// DeadAfter).
func (s *Server) closeCluster() {
	if s.csfu == nil {
		return
	}
	c := s.csfu.close()
	if c != nil {
		_ = c.Close()
	}
	if s.clusterRDB != nil {
		_ = s.clusterRDB.Close()
	}
}

// Cluster is the node's membership and room leases (nil before Start).
func (s *Server) Cluster() *cluster.Cluster {
	if s.csfu == nil {
		return nil
	}
	return s.csfu.cluster()
}

// SetDraining marks the node as leaving in its heartbeat (the load balancer's and edges' cue).
func (s *Server) SetDraining(on bool) {
	if c := s.Cluster(); c != nil {
		c.SetDraining(on)
	}
}

// registerClusterMetrics adds the cluster gauges (counted by each heartbeat).
func (s *Server) registerClusterMetrics(reg *prometheus.Registry) {
	count := func(rooms bool) func() float64 {
		return func() float64 {
			c := s.Cluster()
			if c == nil {
				return 0
			}
			n, r := c.Counts()
			if rooms {
				return float64(r)
			}
			return float64(n)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relaycast_cluster_nodes", Help: "Live members of the cluster (as of this node's last heartbeat)."}, count(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "relaycast_cluster_rooms", Help: "Live rooms of the whole cluster: room leases held (as of this node's last heartbeat)."}, count(true)),
	)
}

func (cs *clusterSFU) cluster() *cluster.Cluster {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.c
}

// close stops taking publishes and waits for the rooms' goroutines; it returns the cluster.
func (cs *clusterSFU) close() *cluster.Cluster {
	cs.mu.Lock()
	cs.closed = true
	c := cs.c
	cs.mu.Unlock()
	cs.wg.Wait()
	return c
}

func ownerHash(owner string) string {
	if owner == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:16])
}

// Publish claims the room's lease, then publishes locally. When a live other node owns the
// room: the same publisher identity takes it over through the owner (which ends its room and
// releases the lease), any other gets a signaling.Redirect to the owner.
func (cs *clusterSFU) Publish(ctx context.Context, p sfu.PublishParams) (*sfu.Publisher, string, error) {
	c := cs.cluster()
	if c == nil {
		return cs.SFU.Publish(ctx, p)
	}
	unlock, err := cs.publishing.lock(ctx, p.Room)
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	hash := ownerHash(p.Owner)
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return nil, "", sfu.ErrClosed
	}
	cur := cs.rooms[p.Room]
	if cur != nil {
		if hash == "" || cur.owner != hash {
			cs.mu.Unlock()
			return nil, "", sfu.ErrRoomBusy // live here with another publisher
		}
		cur.replacing = true // the local takeover: its lease is fenced out by ours
	}
	cs.mu.Unlock()
	fail := func(err error) (*sfu.Publisher, string, error) {
		if cur != nil {
			cs.mu.Lock()
			cur.replacing = false
			cs.mu.Unlock()
			select {
			case <-cur.lease.Lost(): // our claim fenced it out, and the room was not replaced
				cs.SFU.EndRoom(p.Room, reasonFencedOut)
			default:
			}
		}
		return nil, "", err
	}

	lease, err := c.Claim(ctx, p.Room)
	var owned *cluster.OwnedError
	if errors.As(err, &owned) {
		if hash != "" {
			switch cs.handover(ctx, owned.Owner, hash) {
			case handoverDone:
				lease, err = c.Claim(ctx, p.Room)
			case handoverGone:
				// The owner does not answer, or has no live room (it crashed and restarted): it
				// loses the room once its membership or lease lapses.
				lease, err = cs.claimWhenGone(ctx, c, p.Room, owned.Owner)
			}
		}
		if errors.As(err, &owned) {
			return fail(&signaling.Redirect{URL: owned.Owner.URL + "/whip/" + url.PathEscape(p.Room)})
		}
	}
	if err != nil {
		return fail(fmt.Errorf("%w: %v", sfu.ErrClosed, err)) // Redis unreachable: try again later (503)
	}
	pub, answer, err := cs.SFU.Publish(ctx, p)
	if err != nil {
		lease.Release()
		return fail(err)
	}
	o := &origin{room: p.Room, owner: hash, pub: pub, lease: lease, released: make(chan struct{})}
	cs.mu.Lock()
	cs.rooms[p.Room] = o
	cs.wg.Add(1)
	cs.mu.Unlock()
	go cs.serve(o)
	return pub, answer, nil
}

// serve keeps the origin's lease until the room ends; a lease fenced out ends the room here.
func (cs *clusterSFU) serve(o *origin) {
	defer cs.wg.Done()
	select {
	case <-o.pub.Done():
	case <-o.lease.Lost():
		cs.mu.Lock()
		mine := cs.rooms[o.room] == o && !o.replacing
		cs.mu.Unlock()
		if mine {
			cs.log.Warn("room lease lost: ending the local room", "room", o.room, "fence", o.lease.Fence())
			cs.SFU.EndRoom(o.room, reasonFencedOut)
		}
		<-o.pub.Done()
	}
	cs.mu.Lock()
	if cs.rooms[o.room] == o {
		delete(cs.rooms, o.room)
	}
	cs.mu.Unlock()
	o.lease.Release()
	close(o.released)
}

// Subscribe subscribes locally; a room another live node owns is first made live here by the
// edge relay (remote), or, without one, the viewer is redirected to the owner.
func (cs *clusterSFU) Subscribe(ctx context.Context, p sfu.SubscribeParams) (*sfu.Subscriber, string, error) {
	c := cs.cluster()
	if _, live := cs.SFU.Room(p.Room); live || c == nil {
		return cs.SFU.Subscribe(ctx, p)
	}
	owner, ok, err := c.Owner(ctx, p.Room)
	if err == nil && ok && owner.Node != c.Self().ID {
		if cs.remote == nil {
			return nil, "", &signaling.Redirect{URL: owner.URL + "/whep/" + url.PathEscape(p.Room)}
		}
		if err := cs.remote(ctx, p.Room, owner); err != nil {
			return nil, "", err
		}
	}
	return cs.SFU.Subscribe(ctx, p)
}

// Rooms is every live room of the cluster.
func (cs *clusterSFU) Rooms() []sfu.RoomInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nr := cs.NodeRooms(ctx)
	out := make([]sfu.RoomInfo, 0, len(nr))
	for _, r := range nr {
		out = append(out, r.RoomInfo)
	}
	return out
}

// NodeRooms is every live room of the cluster with its owner node (GET /api/rooms): the local
// SFU's rooms as they are here, the others as their lease says. Without Redis, the local ones.
func (cs *clusterSFU) NodeRooms(ctx context.Context) []httpapi.NodeRoom {
	local := cs.SFU.Rooms()
	c := cs.cluster()
	self := ""
	var owners []cluster.Owner
	if c != nil {
		self = c.Self().ID
		var err error
		if owners, err = c.Rooms(ctx); err != nil {
			cs.log.Warn("cluster rooms", "err", err)
		}
	}
	byRoom := map[string]httpapi.NodeRoom{}
	for _, info := range local {
		byRoom[info.Room] = httpapi.NodeRoom{RoomInfo: info, Node: self}
	}
	for _, o := range owners {
		if r, ok := byRoom[o.Room]; ok {
			r.Node = o.Node // an edge's room is served by its owner
			byRoom[o.Room] = r
			continue
		}
		byRoom[o.Room] = httpapi.NodeRoom{RoomInfo: remoteInfo(o), Node: o.Node}
	}
	out := make([]httpapi.NodeRoom, 0, len(byRoom))
	for _, r := range byRoom {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// NodeRoom is one live room of the cluster with its owner node: as the local SFU has it, else
// as its lease says.
func (cs *clusterSFU) NodeRoom(ctx context.Context, name string) (httpapi.NodeRoom, bool) {
	c := cs.cluster()
	info, local := cs.SFU.Room(name)
	if c == nil {
		return httpapi.NodeRoom{RoomInfo: info}, local
	}
	o, owned, err := c.Owner(ctx, name)
	switch {
	case err != nil || (!owned && local):
		return httpapi.NodeRoom{RoomInfo: info, Node: c.Self().ID}, local
	case !owned:
		return httpapi.NodeRoom{}, false
	case local:
		return httpapi.NodeRoom{RoomInfo: info, Node: o.Node}, true
	}
	return httpapi.NodeRoom{RoomInfo: remoteInfo(o), Node: o.Node}, true
}

// remoteInfo is what a lease tells of a room served elsewhere (its viewers are that node's).
func remoteInfo(o cluster.Owner) sfu.RoomInfo {
	return sfu.RoomInfo{Room: o.Room, Since: time.UnixMilli(o.Since).UTC(), Codecs: []string{}}
}
