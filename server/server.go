// Package server is relaycast's wiring, and only that: it builds the components from the
// config (archive, uploads, SFU, signaling, the REST API, web UI, metrics) and mounts their
// routes on one HTTP listener. cmd/relaycast (the composition root) calls it; so do the
// end-to-end tests and internal/testserver, which cannot import package main. No domain logic
// lives here: see docs/LAYOUT.md.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/cluster"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/httpapi"
	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/auction"
	"github.com/relaycast/relaycast/live/chat"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/metrics"
	"github.com/relaycast/relaycast/revocation"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signin"
	"github.com/relaycast/relaycast/transcode"
	"github.com/relaycast/relaycast/uploads"
	"github.com/relaycast/relaycast/web"
)

// Params configures a Server.
type Params struct {
	Config config.Config
	Logger *slog.Logger
	// Stdout receives the ready links (default os.Stdout).
	Stdout io.Writer
	// Hurry, when closed, cuts a drain in progress short (the operator's second SIGTERM): Run
	// shuts down at once.
	Hurry <-chan struct{}
	// DemoRoom is the room of the printed links (default "demo").
	DemoRoom string
	// Signer issues and checks tokens. cmd/relaycast resolves the secret once
	// (auth.LoadSigner) and passes it; when nil, New resolves it from Config the same way.
	Signer *auth.Signer
	// ArchiveTuning shortens the recording pipeline's timings (tests).
	ArchiveTuning archive.Tuning
	// LiveLeaseTTL is the auction's lot lease (0: its default; tests shorten it).
	LiveLeaseTTL time.Duration
	// EdgeLocator, when set, lets the node pull rooms served elsewhere for its viewers; EdgeNode
	// is its node ID, EdgeLinger how long a pull outlives its last viewer (server/edge.go).
	EdgeLocator cluster.Locator
	EdgeNode    string
	EdgeLinger  time.Duration
}

// Server is one relaycast node.
type Server struct {
	p       Params
	cfg     config.Config
	log     *slog.Logger
	signer  *auth.Signer
	sfu     *sfu.SFU
	sig     *signaling.Server
	handler http.Handler
	httpSrv *http.Server
	ln      net.Listener
	ready   atomic.Bool

	shutdownOnce sync.Once
	shutdownErr  error
	served       chan error
	archive      *archive.Archive // nil when recording is off
	uploads      *uploads.Service // nil when recording is off
	api          *httpapi.API
	signIn       *signin.Service // OIDC sign-in routes (server/signin.go)

	// The node's Redis (redis.go), shared by the archive and the live room.
	embedded *transcode.Embedded // in-process Redis without --redis-url
	redisOpt asynq.RedisConnOpt
	rdb      redis.UniversalClient
	stream   *stream.Log // the live rooms' event streams

	// The live room (live.go): chat, auctions, and the service over both.
	chat        *chat.Service
	auction     *auction.Engine
	live        *live.Service
	roomMu      sync.Mutex     // guards roomsClosed against roomWG.Add
	roomsClosed bool           // closeLive ran: no more room watches
	roomsDone   chan struct{}  // closed by closeLive
	roomWG      sync.WaitGroup // watchLive's goroutines

	webhooks atomic.Pointer[webhooks] // nil without --webhook-url (webhooks.go)

	// show archives the rooms' chat, lots and bids (show.go); nil when recording is off.
	show *archive.Show

	csfu       *clusterSFU           // the SFU as signaling and the API see it (cluster.go)
	limits     *limits               // write rate limits (limits.go)
	revoked    *revocation.Store     // revoked token subjects (revocation.go)
	clusterRDB redis.UniversalClient // the cluster's own Redis client
	edge       *cluster.Edge         // pulls rooms other nodes serve (edge.go)

	hls *liveHLS // live LL-HLS under /live/ (livehls.go); nil with --live-hls=false
}

// New builds a server: it resolves the auth secret (unless p.Signer is set), starts the
// recording pipeline and opens the ICE sockets, but does not listen for HTTP yet (Start does).
func New(p Params) (*Server, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Stdout == nil {
		p.Stdout = os.Stdout
	}
	if p.DemoRoom == "" {
		p.DemoRoom = "demo"
	}
	cfg := p.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{p: p, cfg: cfg, log: p.Logger.With("component", "server"), served: make(chan error, 1), roomsDone: make(chan struct{})}

	var err error
	if s.signer = p.Signer; s.signer == nil {
		var generated bool
		if s.signer, generated, err = auth.LoadSigner(cfg.AuthSecret, cfg.DataDir); err != nil {
			return nil, fmt.Errorf("auth secret: %w", err)
		}
		if generated {
			s.log.Info("generated a new auth secret", "dir", cfg.DataDir)
		}
	}
	iceServers, err := cfg.ICEServerList()
	if err != nil {
		return nil, err
	}
	// Built in this order (each may use the ones before it); on an error, closeMedia closes
	// whatever was built.
	fail := func(err error) (*Server, error) {
		s.closeMedia()
		return nil, err
	}
	if err := s.openRedis(); err != nil {
		return fail(err)
	}
	if err := s.openStream(); err != nil {
		return fail(err)
	}
	if err := s.openRevocations(); err != nil { // revocation.go
		return fail(err)
	}
	if cfg.Record {
		if s.archive, err = archive.New(archive.Params{Config: cfg, Logger: p.Logger, Tuning: p.ArchiveTuning,
			Redis: s.rdb, RedisOpt: s.redisOpt}); err != nil {
			return fail(fmt.Errorf("archive: %w", err))
		}
		if s.uploads, err = uploads.New(uploads.Params{Config: cfg, Logger: p.Logger, PartKey: s.signer.DeriveKey(uploads.PartKeyPurpose),
			Catalog: s.archive.Catalog(), Store: s.archive.Store(), Pipeline: s.archive}); err != nil {
			return fail(err)
		}
	}
	// Webhooks before the auction: a lot the engine settles as soon as it runs (taken over from
	// a dead node) gets its lot.won / lot.ended.
	if err := s.startWebhooks(); err != nil {
		return fail(err)
	}
	if err := s.openLive(); err != nil { // live.go
		return fail(err)
	}
	if err := s.openLiveHLS(); err != nil { // livehls.go
		return fail(err)
	}
	var onLive func(sfu.LiveRoom) sfu.Sink
	if s.archive != nil {
		if err := s.openShow(liveBidLog{s.auction}); err != nil { // show.go
			return fail(err)
		}
		onLive = s.archive.OnLive
	}
	onLive = s.liveOnLive(s.webhookOnLive(s.hlsOnLive(onLive)))
	if s.sfu, err = sfu.New(sfu.Config{
		Logger: p.Logger, ICEUDPPort: cfg.ICEUDPPort, ICETCPPort: cfg.ICETCPPort,
		PublicIP: cfg.PublicIP, Loopback: cfg.ICELoopback, OnLive: onLive, PionSend: cfg.PionSend, PionIngest: cfg.PionIngest, ReadCoalesce: cfg.ReadCoalesce,
		NoGSO: cfg.NoGSO,
	}); err != nil {
		return fail(err)
	}
	s.csfu = newClusterSFU(s.sfu, s.signer, p.Logger)
	sigICE := make([]signaling.ICEServer, 0, len(iceServers))
	for _, x := range iceServers {
		sigICE = append(sigICE, signaling.ICEServer{URL: x.URL, Username: x.Username, Credential: x.Credential})
	}
	s.limits = s.newLimits() // limits.go
	_, _, sockRule := cfg.Rules()
	media, err := s.openEdge() // edge.go
	if err != nil {
		return fail(err)
	}
	s.sig = signaling.New(signaling.Params{
		SFU: media, Auth: s.signer, Logger: p.Logger, ViewerAuth: cfg.ViewerAuth,
		AllowedOrigins: cfg.AllowedOrigins, ICEServers: sigICE,
		MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP,
		Unlimited: func(r *http.Request) bool { return isRelayPull(r.Context()) }, // edge.go
		ClientIP:  s.cfg.Proxies().ClientIP, MessageLimit: sockRule,               // limits.go
		RateLimited: func() { s.limits.refused.WithLabelValues("socket").Inc() },
		Families:    []signaling.Family{liveFamily{s.live}},
		SessionNode: s.sessionNode, ForwardSession: s.forwardSession, // sessionforward.go
	})

	s.api = httpapi.New(httpapi.Params{Config: cfg, Logger: p.Logger, Signer: s.signer, Rooms: s.csfu,
		Archive: s.archive, Uploads: s.uploads, Live: s.live, Revocations: s.revoked})
	if s.signIn, err = s.newSignIn(); err != nil {
		return fail(err)
	}
	s.handler = s.routes()
	return s, nil
}

// routes mounts every route of the node, in one place: signaling (WHIP, WHEP, /ws), the REST
// API (httpapi.Register), metrics, health, and the web UI for the rest.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.sig.Register(mux)
	s.api.Register(mux)
	s.signIn.Register(mux)
	s.csfu.register(mux)
	reg := metrics.NewRegistry(s.sfu)
	s.registerClusterMetrics(reg)
	if s.archive != nil {
		reg.MustRegister(s.archive.Collector())
	}
	s.registerWebhookMetrics(reg)
	s.registerLimitMetrics(reg)
	reg.MustRegister(s.live.Collector())
	s.mountLiveHLS(mux, reg) // livehls.go
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			msg := "not ready"
			if s.sig.Draining() { // drain.go
				msg = "draining"
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("/", web.NewHandler(web.Params{MediaOrigins: mediaOrigins(s.cfg)}))
	return relayPulls(s.signer, s.limits.http.Wrap(mux)) // edge.go, limits.go
}

// mediaOrigins is the origin the VOD is served from when it is not this server (S3 or a CDN),
// for the pages' Content-Security-Policy.
func mediaOrigins(cfg config.Config) []string {
	if !cfg.Record || cfg.S3Bucket == "" {
		return nil
	}
	base := cfg.S3PublicURL
	if base == "" {
		base = cfg.S3Endpoint
	}
	if base == "" {
		base = "https://" + cfg.S3Bucket + ".s3." + cfg.S3Region + ".amazonaws.com"
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// Handler is the server's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Signer issues and checks tokens with the server's secret.
func (s *Server) Signer() *auth.Signer { return s.signer }

// SFU is the media server (for in-process tools and tests).
func (s *Server) SFU() *sfu.SFU { return s.sfu }

// Stream is the live rooms' event stream (for in-process tools and tests).
func (s *Server) Stream() *stream.Log { return s.stream }

// Start listens on the configured HTTP address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		s.closeMedia()
		return fmt.Errorf("listen %s: %w", s.cfg.HTTPAddr, err)
	}
	// Bound concurrent HTTP connections so a flood cannot exhaust file descriptors.
	limit := 4096
	if s.cfg.MaxConns > 0 {
		limit += 2 * s.cfg.MaxConns
	}
	s.ln = newLimitListener(ln, limit)       // listener.go
	if err := s.startCluster(); err != nil { // cluster.go
		_ = ln.Close()
		s.closeMedia()
		return fmt.Errorf("cluster: %w", err)
	}
	s.httpSrv = &http.Server{
		Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.archive != nil {
		s.httpSrv.RegisterOnShutdown(s.archive.EndStreams)
	}
	s.httpSrv.RegisterOnShutdown(s.live.EndStreams)
	if s.cfg.TLSCert != "" {
		go func() { s.served <- s.httpSrv.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey) }()
	} else {
		go func() { s.served <- s.httpSrv.Serve(s.ln) }()
	}
	s.startPprof() // RELAYCAST_PPROF (pprof.go)
	s.ready.Store(true)
	s.log.Info("listening", "http", ln.Addr().String(), "ice_udp", fmt.Sprint(s.sfu.UDPAddrs()))
	return nil
}

// URL is the base URL clients on this machine reach the server at.
func (s *Server) URL() string {
	if s.cfg.PublicURL != "" && !strings.HasSuffix(s.cfg.HTTPAddr, ":0") {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return s.cfg.Scheme() + "://127.0.0.1:" + port
}

// Shutdown stops accepting, ends every session and room, and waits (bounded by ctx).
// It is idempotent: later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.ready.Store(false)
		if s.httpSrv != nil {
			// Hijacked WebSockets are not tracked by http.Server: signaling closes them.
			s.shutdownErr = s.httpSrv.Shutdown(ctx)
		}
		s.closeMedia()
	})
	return s.shutdownErr
}

// closeMedia closes every component in order (those New built, when it failed half-way):
// the sockets and sessions first, the rooms, the live room (its last settlements still reach
// the webhooks), the webhooks, the API, the archive, and the Redis last.
func (s *Server) closeMedia() {
	if s.sig != nil {
		_ = s.sig.Close()
	}
	if s.edge != nil {
		_ = s.edge.Close() // its pulls' rooms end with it
	}
	if s.sfu != nil {
		_ = s.sfu.Close() // ends every room: recordings close and hand their last chunk over
	}
	s.closeLiveHLS()
	s.closeCluster() // the ended rooms' leases are released; the heartbeat stops
	s.closeLive()
	s.closeWebhooks()
	if s.api != nil {
		s.api.Close()
	}
	_ = s.signIn.Close()
	s.closeArchive()
	s.closeRevocations()
	s.closeRedis()
}

// closeArchive stops uploads, then the recording pipeline they use.
func (s *Server) closeArchive() {
	s.closeShow() // show.go
	if s.uploads != nil {
		s.uploads.Close()
	}
	if s.archive != nil {
		s.archive.Close()
	}
}

// Run starts the server, prints the ready links and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	if err := s.printLinks(); err != nil {
		s.log.Warn("cannot print ready links", "err", err)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	}
	if serveErr == nil {
		s.drainOnStop() // drain.go
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

func (s *Server) printLinks() error {
	tok, err := s.signer.Issue(s.p.DemoRoom, []auth.Grant{auth.GrantPublish}, 24*time.Hour, "demo-seller")
	if err != nil {
		return err
	}
	return writeBanner(s.p.Stdout, s.URL(), s.p.DemoRoom, tok, web.Built())
}

// writeBanner prints the ready links. Without the web UI in the binary (a plain `go build`,
// web/dist empty) it says so instead of printing page links that would answer 503.
func writeBanner(w io.Writer, base, room, tok string, uiBuilt bool) error {
	pages := fmt.Sprintf(`  Go live:   %[1]s/broadcast/%[2]s?token=%[3]s
  Watch:     %[1]s/watch/%[2]s
`, base, room, tok)
	rooms := fmt.Sprintf("  Rooms:     %[1]s/   Metrics: %[1]s/metrics\n", base)
	if !uiBuilt {
		pages = `  Web UI:    NOT BUILT into this binary: the browser pages (go live, watch, library, admin)
             answer 503 "web UI not built". Build the whole product with ` + "`make build`" + `
             (needs Node.js + npm; it builds web/ui, then the binary). WHIP and WHEP work as is.
`
		rooms = fmt.Sprintf("  API:       %[1]s/api/rooms   Metrics: %[1]s/metrics\n", base)
	}
	_, err := fmt.Fprintf(w, `
relaycast is ready.
%[4]s  WHIP (OBS: Service "WHIP", Server below, Bearer Token = the token):
             %[1]s/whip/%[2]s
  WHEP:      %[1]s/whep/%[2]s
  Token:     %[3]s   (valid 24h; make more with: relaycast token --room ROOM --publish)
%[5]s
`, base, room, tok, pages, rooms)
	return err
}

// Archive is the recording pipeline, nil when recording is off (for in-process tools and tests).
func (s *Server) Archive() *archive.Archive { return s.archive }

// Uploads is the uploads service, nil when recording is off (for in-process tools and tests).
func (s *Server) Uploads() *uploads.Service { return s.uploads }
