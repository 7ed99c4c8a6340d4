package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/sfu"
)

// Edges (docs/CLUSTER.md, "Edges"): a node asked for a room it does not serve pulls the room from
// the node the Locator names — a WHEP client with a relay token, once per room however many
// viewers it has — and feeds the pulled tracks into a local sfu room (sfu.SFU.Relay), whose
// viewers get the same fast path, layer choice, NACK answers and keyframe throttling as on the
// origin. The pull stops Linger after the room's last viewer (or downstream edge) left, and the
// local room ends when the pull breaks, so its viewers get the normal end and reconnect.

// EdgeSFU is what an Edge needs of the local SFU (*sfu.SFU).
type EdgeSFU interface {
	Relay(ctx context.Context, p sfu.RelayParams) (*sfu.Relay, error)
	Room(name string) (sfu.RoomInfo, bool)
}

// EdgeParams configures an Edge. Locator, SFU and Token are required.
type EdgeParams struct {
	Locator Locator
	SFU     EdgeSFU
	// Token returns the bearer token of a pull: a relay grant (auth.GrantRelay), usually minted
	// for every room with the cluster's shared secret.
	Token func() (string, error)
	// Self is this node's ID: a room the Locator says this node owns is never pulled.
	Self string
	// HTTPClient makes the WHEP requests (default: a client with a 10 s timeout; it follows
	// the owner's 307 redirects).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Linger is how long a pull goes on after the room's last viewer (or downstream edge) left
	// (default 10 s).
	Linger time.Duration
	// Loopback keeps the pulls' ICE on 127.0.0.1, like the server's --ice-loopback.
	Loopback bool
	// PullTimeout bounds one pull's start: locating, the WHEP exchange, ICE and DTLS, the first
	// packet of each track (default 10 s).
	PullTimeout time.Duration
	// TrackWait: once the first track arrived, how long the pull waits for the others the
	// origin's answer announced before it goes live with those it has (default 2 s; late ones
	// are added when they come).
	TrackWait time.Duration
	// ICEDisconnectedTimeout / ICEFailedTimeout bound how long a silent owner is kept (defaults
	// 1.5 s / 1 s; a pull carries audio every 20 ms): then the pull breaks and the local room ends.
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// AwaitEvery is how often Await asks the Locator about a room someone waits for here
	// (default 500 ms).
	AwaitEvery time.Duration
	// LocateTimeout bounds one question to the Locator (Redis): a viewer of a room this node
	// does not carry hears "not live" within it when Redis does not answer, instead of waiting
	// for the Redis client's timeouts and retries (default 2 s).
	LocateTimeout time.Duration
}

func (p *EdgeParams) setDefaults() {
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Linger <= 0 {
		p.Linger = 10 * time.Second
	}
	if p.PullTimeout <= 0 {
		p.PullTimeout = 10 * time.Second
	}
	if p.TrackWait <= 0 {
		p.TrackWait = 2 * time.Second
	}
	if p.ICEDisconnectedTimeout <= 0 {
		p.ICEDisconnectedTimeout = 1500 * time.Millisecond
	}
	if p.ICEFailedTimeout <= 0 {
		p.ICEFailedTimeout = time.Second
	}
	if p.AwaitEvery <= 0 {
		p.AwaitEvery = 500 * time.Millisecond
	}
	if p.LocateTimeout <= 0 {
		p.LocateTimeout = 2 * time.Second
	}
}

// Edge pulls rooms from other nodes on demand.
type Edge struct {
	p   EdgeParams
	log *slog.Logger
	api *webrtc.API

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	pulls  map[string]*pull
	waits  map[string]*waiter // edge_await.go
	closed bool
}

// NewEdge builds an Edge.
func NewEdge(p EdgeParams) (*Edge, error) {
	if p.Locator == nil || p.SFU == nil || p.Token == nil {
		return nil, fmt.Errorf("%w: EdgeParams needs Locator, SFU and Token", ErrBadParams)
	}
	p.setDefaults()
	api, err := pullAPI(p)
	if err != nil {
		return nil, err
	}
	e := &Edge{p: p, log: p.Logger.With("component", "edge"), api: api, pulls: map[string]*pull{}, waits: map[string]*waiter{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// pullAPI is the Pion API of the pulls: the SFU's viewer codecs, a NACK generator (losses on
// the pull itself are asked again upstream) and receiver reports; ICE like the SFU's.
func pullAPI(p EdgeParams) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := sfu.RegisterViewerCodecs(m); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICETimeouts(p.ICEDisconnectedTimeout, p.ICEFailedTimeout, 500*time.Millisecond)
	if p.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// Ensure makes room live on this node if another node serves it: when it is not live here, it
// asks the Locator who serves it and pulls it from there, waiting until the pulled tracks are
// live. Concurrent calls for one room share one pull. It returns nil without pulling when the
// room is live here, no node serves it, or this node owns it (the caller's Subscribe then
// answers as usual), and an error wrapping ErrLocate or ErrPull when pulling failed.
func (e *Edge) Ensure(ctx context.Context, room string) error {
	if _, ok := e.p.SFU.Room(room); ok {
		return nil
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrEdgeClosed
	}
	p := e.pulls[room]
	if p == nil {
		p = &pull{e: e, room: room, ready: make(chan struct{}), log: e.log.With("room", room)}
		e.pulls[room] = p
		e.wg.Add(1)
		go p.run()
	}
	e.mu.Unlock()
	select {
	case <-p.ready:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pulls lists the rooms this node pulls now, by name.
func (e *Edge) Pulls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.pulls))
	for room := range e.pulls {
		out = append(out, room)
	}
	sort.Strings(out)
	return out
}

// forget removes p from the pulls if it is still the room's.
func (e *Edge) forget(p *pull) {
	e.mu.Lock()
	if e.pulls[p.room] == p {
		delete(e.pulls, p.room)
	}
	e.mu.Unlock()
}

// Close stops every pull (their rooms end) and waits for them.
func (e *Edge) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// locate asks the Locator who serves room, within LocateTimeout.
func (e *Edge) locate(ctx context.Context, room string) (Owner, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, e.p.LocateTimeout)
	defer cancel()
	return e.p.Locator.Owner(ctx, room)
}

// pullError wraps a pull failure.
func pullError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPull, fmt.Sprintf(format, args...))
}
