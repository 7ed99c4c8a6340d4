// Package sfu forwards one publisher's audio and video to many viewers per room (a selective
// forwarding unit on Pion WebRTC). It knows nothing of signaling, recording or transcoding: callers
// hand it SDP offers and get answers back, and observe rooms through events.
package sfu

import (
	"context"
	"errors"
	"fmt"
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Config configures an SFU. The zero value of every field but Logger has a documented default.
type Config struct {
	Logger *slog.Logger
	// ICEUDPPort is the one UDP port all ICE traffic shares (UDP mux). 0 picks a free port.
	ICEUDPPort int
	// ICETCPPort enables ICE-TCP on that port when > 0.
	ICETCPPort int
	// PublicIP is advertised as host candidate address instead of the local ones (NAT 1:1).
	PublicIP string
	// Loopback restricts ICE to 127.0.0.1 (tests and local demos).
	Loopback bool
	// KeyframeInterval is the least time between two keyframe requests to one publisher track
	// (default 300ms). Requests within the interval are merged into one sent at its end.
	KeyframeInterval time.Duration
	// LiveGrace: a publisher whose tracks did not all arrive goes live with the ones it has after
	// this long (default 2s).
	LiveGrace time.Duration
	// ICEDisconnectedTimeout / ICEFailedTimeout bound how long a vanished peer is kept
	// (defaults 3s / 5s).
	ICEDisconnectedTimeout, ICEFailedTimeout time.Duration
	// ConnectTimeout closes a peer connection that has not connected this long after its answer
	// (default 15s), so abandoned offers hold no resources.
	ConnectTimeout time.Duration
	// SimulcastStartBitrate is the bandwidth estimate (bits/s) a new viewer of a simulcast room
	// starts from, before its REMB or receiver reports say more (default 1.2 Mbps).
	SimulcastStartBitrate int
	// PionSend keeps viewers on Pion's own send path (interceptors, SRTP session, ICE
	// connection per packet) instead of the SFU's direct one (direct.go). For comparison and as
	// a fallback; default false.
	PionSend bool
	// PionIngest keeps publishers on Pion's own receive path (UDP mux → ICE → DTLS/SRTP mux →
	// SRTP session → track, Pion's receive-side interceptors) instead of the SFU's direct one
	// (ingestdirect.go). For comparison and as a fallback; default false.
	PionIngest bool
	// ReadCoalesce: a read of the ICE socket that finds several datagrams waiting lets the next
	// ones gather this long before the next read (udpsend.Options.ReadCoalesce; TWCC then takes
	// each packet's arrival from the kernel's receive timestamp). 0 reads each datagram as it
	// comes (docs/PERFORMANCE.md, "Coalesced reads").
	ReadCoalesce time.Duration
	// NoGSO sends every datagram as its own message. By default a viewer's consecutive packets
	// of one writer-group batch go to the kernel as one UDP GSO message when the kernel has
	// UDP_SEGMENT (direct send path only; see docs/PERFORMANCE.md). For comparison runs.
	NoGSO bool
	// OnLive, when set, is called each time a room goes live (a publisher's tracks arrived). A
	// non-nil Sink it returns receives the room's packets until the room ends. The recorder
	// attaches this way.
	OnLive func(LiveRoom) Sink
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = 300 * time.Millisecond
	}
	if c.SimulcastStartBitrate <= 0 {
		c.SimulcastStartBitrate = 1_200_000
	}
	if c.LiveGrace <= 0 {
		c.LiveGrace = 2 * time.Second
	}
	if c.ICEDisconnectedTimeout <= 0 {
		c.ICEDisconnectedTimeout = 3 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.ICEFailedTimeout <= 0 {
		c.ICEFailedTimeout = 5 * time.Second
	}
}

// SFU owns the rooms, the shared ICE sockets and the two Pion APIs (one for publishers with full
// receive-side feedback, one lean one for viewers).
type SFU struct {
	cfg    Config
	log    *slog.Logger
	pubAPI *webrtc.API
	subAPI *webrtc.API
	subSE  webrtc.SettingEngine // direct send path: per-viewer APIs (viewerAPI)
	subME  *webrtc.MediaEngine
	pubSE  webrtc.SettingEngine // direct receive path: per-publisher APIs (publisherAPI)
	pubME  *webrtc.MediaEngine

	ingest        ingestRoutes         // the read hook's publishers (ingestdirect.go)
	ingestReg     interceptor.Registry // NACK generator + receiver reports, per publisher
	ingestRegTWCC interceptor.Registry // the same + TWCC, for a publisher the hook does not see
	udpMux        ice.UDPMux
	tcpMux        ice.TCPMux
	udpLn         []net.PacketConn
	tcpLn         net.Listener

	stats counters
	sr    *srScheduler // the viewers' sender reports (srsched.go)
	certs dtlsCerts    // one DTLS certificate for every connection (pionmem.go)
	drain drainStats   // the send pools emptied once the node is idle (drain.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	rooms    map[string]*room
	watchers map[string]map[*watcher]struct{}
	closed   bool
}

// New builds an SFU and opens its ICE sockets.
func New(cfg Config) (*SFU, error) {
	cfg.setDefaults()
	s := &SFU{cfg: cfg, log: cfg.Logger.With("component", "sfu"), rooms: map[string]*room{}, watchers: map[string]map[*watcher]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	se := webrtc.SettingEngine{}
	se.LoggerFactory = newPionLogs(s.log) // shared per-scope loggers (pionmem.go)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, time.Second)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if cfg.PublicIP != "" {
		se.SetNAT1To1IPs([]string{cfg.PublicIP}, webrtc.ICECandidateTypeHost)
	}
	if err := s.listen(&se); err != nil {
		s.closeSockets()
		return nil, err
	}

	var err error
	if s.pubAPI, err = newAPI(se, true); err != nil {
		s.closeSockets()
		return nil, err
	}
	if s.subAPI, err = newAPI(se, false); err != nil {
		s.closeSockets()
		return nil, err
	}
	if err := s.prepareDirect(se); err != nil {
		s.closeSockets()
		return nil, err
	}
	if err := s.prepareIngest(se); err != nil {
		s.closeSockets()
		return nil, err
	}
	if bc := s.batch(); bc != nil && !cfg.PionIngest {
		bc.SetReadHook(s.takeIngest)
	}
	s.sr = newSRScheduler(s)
	s.wg.Add(2)
	go s.tick()
	go s.sr.run()
	return s, nil
}

func (s *SFU) listen(se *webrtc.SettingEngine) error {
	// One UDP socket for all ICE traffic. Loopback mode binds 127.0.0.1; otherwise the wildcard
	// address, and the mux enumerates the host's addresses for candidates. Sends go through a
	// udpsend.Conn (sendmmsg).
	ip := net.IPv4zero
	if s.cfg.Loopback {
		ip = net.IPv4(127, 0, 0, 1)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: s.cfg.ICEUDPPort})
	if err != nil {
		return fmt.Errorf("ice udp port %d: %w", s.cfg.ICEUDPPort, err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	bc := udpsend.New(conn, udpsend.Options{GSO: !s.cfg.NoGSO, Log: s.log, ReadCoalesce: s.cfg.ReadCoalesce})
	s.udpLn = append(s.udpLn, bc)
	stdNet, err := stdnet.NewNet()
	if err != nil {
		return err
	}
	s.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: bc, Net: stdNet})
	se.SetICEUDPMux(s.udpMux)
	// Every ICE agent shares this Net (the interfaces as the SFU started) instead of listing
	// them into one of its own (pionmem.go).
	se.SetNet(stdNet)
	if s.cfg.ICETCPPort > 0 {
		ip := net.IPv4zero
		if s.cfg.Loopback {
			ip = net.IPv4(127, 0, 0, 1)
		}
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: ip, Port: s.cfg.ICETCPPort})
		if err != nil {
			return fmt.Errorf("ice tcp port %d: %w", s.cfg.ICETCPPort, err)
		}
		s.tcpLn = ln
		s.tcpMux = webrtc.NewICETCPMux(nil, ln, 64)
		se.SetICETCPMux(s.tcpMux)
	}
	return nil
}

func (s *SFU) closeSockets() {
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
	for _, c := range s.udpLn {
		_ = c.Close()
	}
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	if s.tcpLn != nil {
		_ = s.tcpLn.Close()
	}
}

func newAPI(se webrtc.SettingEngine, publisher bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, publisher, publisher); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if publisher {
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(gen)
		if err := webrtc.ConfigureRTCPReports(reg); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
			return nil, err
		}
		// mid / rid / repaired-rid header extensions: RID-based simulcast from publishers.
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, err
		}
	} else {
		// Viewers: sender reports only (for lip sync). NACKs are answered by the SFU from each
		// track's shared packet cache, not by a per-viewer responder holding a copy of the stream.
		snd, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(snd)
		// abs-send-time on simulcast viewers' video lets a browser run its receive-side bandwidth
		// estimator and send REMB, which drives the viewer's layer choice.
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// UDPAddrs returns the local addresses of the ICE UDP socket(s).
func (s *SFU) UDPAddrs() []net.Addr { return s.udpMux.GetListenAddresses() }

// Close ends every room and releases the sockets; it waits for the SFU's goroutines.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.end("server shutting down")
	}
	s.cancel()
	s.wg.Wait()
	s.closeSockets()
	return nil
}

// RoomInfo describes a live room.
type RoomInfo struct {
	Room    string    `json:"room"`
	Since   time.Time `json:"live_since"`
	Viewers int       `json:"viewers"`
	// Edges counts the relay pulls of other nodes (SubscribeParams.Relay): not viewers.
	Edges int `json:"edges"`
	// Relayed: the room is fed by a pull from another node (SFU.Relay), not a publisher.
	Relayed bool     `json:"relayed,omitempty"`
	Codecs  []string `json:"codecs"`
}

// Rooms lists the live rooms, by name.
func (s *SFU) Rooms() []RoomInfo {
	s.mu.Lock()
	rs := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	out := make([]RoomInfo, 0, len(rs))
	for _, r := range rs {
		if info, ok := r.info(); ok {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// Room returns the state of one live room.
func (s *SFU) Room(name string) (RoomInfo, bool) {
	s.mu.Lock()
	r := s.rooms[name]
	s.mu.Unlock()
	if r == nil {
		return RoomInfo{}, false
	}
	return r.info()
}

// EndRoom stops the broadcast in a room (an admin action). It reports whether a room was live.
func (s *SFU) EndRoom(name, reason string) bool {
	s.mu.Lock()
	r := s.rooms[name]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	r.end(reason)
	return true
}

// tick publishes coalesced viewer counts once a second, and empties the send buffer pools once
// the node has had no room for drainAfterIdle seconds (udpsend.Conn.Drain).
func (s *SFU) tick() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		rs := make([]*room, 0, len(s.rooms))
		for _, r := range s.rooms {
			rs = append(rs, r)
		}
		s.mu.Unlock()
		if idle++; len(rs) > 0 {
			idle = 0
		} else if idle == drainAfterIdle {
			s.drainSendPools()
		}
		for _, r := range rs {
			if info, ok := r.info(); ok && r.viewersChanged() {
				s.emit(Event{Kind: EventStatus, Room: info.Room, Live: true, Viewers: info.Viewers, Since: info.Since})
			}
		}
	}
}

func (s *SFU) removeRoom(r *room) {
	s.mu.Lock()
	if s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
	s.mu.Unlock()
}

var errNoTracks = errors.New("offer has no audio or video to receive")
