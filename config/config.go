// Package config holds relaycast's settings: one struct with documented
// defaults, filled from flags and RELAYCAST_* environment variables and
// checked by Validate.
//
// Precedence, lowest first: Default() < environment < flags given on the
// command line. Every flag --some-name has the environment variable
// RELAYCAST_SOME_NAME (see EnvVar).
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything `relaycast serve` can be told. The comment on each
// field names its flag and default.
type Config struct {
	// HTTPAddr is the listen address of the HTTP server (pages, /ws, WHIP/WHEP,
	// API, /metrics). --http, default ":8080".
	HTTPAddr string
	// DataDir holds local state: the generated auth secret, recordings.
	// --data-dir, default "./data".
	DataDir string
	// AuthSecret is the HS256 token signing secret (at least 16 bytes). Empty
	// means: use DataDir/auth-secret, generating it on first start.
	// --auth-secret, default "".
	AuthSecret string
	// ICEUDPPort is the single UDP port all ICE traffic is multiplexed on.
	// 0 picks a random port. --ice-udp-port, default 8189.
	ICEUDPPort int
	// ICETCPPort is the port for ICE over TCP (passive TCP candidates), for
	// viewers behind UDP-blocking firewalls. 0 disables it. --ice-tcp-port, default 0.
	ICETCPPort int
	// PublicIP is the address advertised in ICE candidates instead of the
	// host's own (1:1 NAT, e.g. a cloud VM's public IP). --public-ip, default "".
	PublicIP string
	// ICELoopback gathers only loopback candidates: for local demos and tests.
	// --ice-loopback, default false.
	ICELoopback bool
	// PionSend sends viewers' packets through Pion's own per-packet path (interceptors, SRTP
	// session, ICE connection) instead of the SFU's direct one (the SFU encrypts and sends
	// straight to the viewer's socket address; docs/PERFORMANCE.md). For comparison runs.
	// --pion-send, default false.
	PionSend bool
	// PionIngest receives publishers' packets through Pion's own path (UDP mux → ICE → DTLS/SRTP
	// mux → SRTP session → track, Pion's receive-side interceptors) instead of the SFU's direct one
	// (the SFU takes them from the socket and decrypts them itself; docs/PERFORMANCE.md). For
	// comparison runs. --pion-ingest, default false.
	PionIngest bool
	// NoGSO sends every datagram to viewers as its own message instead of handing a viewer's
	// back-to-back packets to the kernel as one UDP GSO message (docs/PERFORMANCE.md). For
	// comparison runs. --no-gso, default false.
	NoGSO bool
	// ReadCoalesce: when a read of the ICE socket finds more than one datagram waiting, the next
	// ones gather this long before the socket is read again (recvmmsg). Under load the server
	// then wakes about once per interval instead of once per datagram; it adds up to the interval
	// to a busy socket's packets (docs/PERFORMANCE.md, "Sleeping and waking"). 0 reads each
	// datagram as it comes. --read-coalesce, default 0 (off: a browser-publisher loadtest
	// threshold failed twice with 1ms on, not yet explained), at most 10ms.
	ReadCoalesce time.Duration
	// ViewerAuth requires a token with the subscribe grant to watch.
	// --viewer-auth, default false (anyone may watch).
	ViewerAuth bool
	// ICEServers are STUN/TURN URLs handed to clients (Link headers on
	// WHIP/WHEP, the page config for the web UI). See ParseICEServer for the
	// format. --ice-server (repeatable, or comma separated), default none.
	ICEServers []string
	// AllowedOrigins are extra origins ("https://shop.example.com") whose pages
	// may open the WebSocket; the server's own origin is always allowed.
	// --allowed-origins (comma separated), default none.
	AllowedOrigins []string
	// MaxConns caps peer connections (publishers + viewers) in total.
	// 0 means no limit. --max-conns, default 2000.
	MaxConns int
	// MaxConnsPerIP caps peer connections from one client IP. 0 means no
	// limit. --max-conns-per-ip, default 50.
	MaxConnsPerIP int
	// LogLevel is one of debug, info, warn, error. --log-level, default "info".
	LogLevel string
	// LogFormat is "text" or "json". --log-format, default "text".
	LogFormat string
	// PublicURL is the base URL printed in the ready links and used in
	// absolute URLs (e.g. WHIP Location). Empty means derived from HTTPAddr,
	// see BaseURL; Load fills it in. --public-url, default "".
	PublicURL string
	// TLSCert / TLSKey are PEM files; with both set the server speaks HTTPS (browsers only give
	// camera and microphone access on https:// pages, or on localhost). --tls-cert, --tls-key,
	// default "" (plain HTTP; put a TLS-terminating proxy in front instead if you prefer).
	TLSCert, TLSKey string
	// Archive: recording, queue, transcode and storage settings (see archive.go).
	Archive
	// SignIn: OpenID Connect sign-in of viewers (see signin.go).
	SignIn
	// Webhooks: the host shop's signed webhooks (see webhook.go).
	Webhooks
	// Catalog: where the recordings catalog lives (see catalog.go).
	Catalog
	// Cluster: this node's id, internal URL and capacity (see cluster.go).
	Cluster
	// Drain: leaving a cluster on SIGTERM (see drain.go).
	Drain
	// Limits: write rate limits per address, user and socket (see limits.go).
	Limits
	// LiveHLS: the live rooms' Low-Latency HLS output (see livehls.go).
	LiveHLS
	// LiveEvents: how live rooms' events reach the sockets (see liveevents.go).
	LiveEvents
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		HTTPAddr:      ":8080",
		DataDir:       "./data",
		ICEUDPPort:    8189,
		MaxConns:      2000,
		MaxConnsPerIP: 50,
		LogLevel:      "info",
		LogFormat:     "text",
		Archive:       DefaultArchive(),
		SignIn:        DefaultSignIn(),
		Webhooks:      DefaultWebhooks(),
		Catalog:       DefaultCatalog(),
		Cluster:       DefaultCluster(),
		Drain:         DefaultDrain(),
		Limits:        DefaultLimits(),
		LiveHLS:       DefaultLiveHLS(),
		LiveEvents:    DefaultLiveEvents(),
	}
}

// EnvPrefix starts every environment variable name.
const EnvPrefix = "RELAYCAST_"

// EnvVar returns the environment variable for a flag name:
// "ice-udp-port" → "RELAYCAST_ICE_UDP_PORT".
func EnvVar(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// setting ties a flag name to its field.
type setting struct {
	name  string
	usage string
	value flag.Value
}

// settings lists every setting with a fresh flag.Value pointing into c.
func (c *Config) settings() []setting {
	return append([]setting{
		{"http", "HTTP listen `address` (pages, /ws, WHIP/WHEP, API, /metrics)", (*stringValue)(&c.HTTPAddr)},
		{"data-dir", "`directory` for local state: the generated auth secret, recordings", (*stringValue)(&c.DataDir)},
		{"auth-secret", "HS256 token signing `secret`, at least 16 bytes; empty = generate one and keep it in <data-dir>/auth-secret", (*stringValue)(&c.AuthSecret)},
		{"ice-udp-port", "single UDP `port` for all ICE traffic (UDP mux); 0 = random", (*intValue)(&c.ICEUDPPort)},
		{"ice-tcp-port", "TCP `port` for ICE over TCP (for UDP-blocked viewers); 0 = off", (*intValue)(&c.ICETCPPort)},
		{"public-ip", "`IP` address advertised in ICE candidates (1:1 NAT, e.g. a cloud VM's public IP)", (*stringValue)(&c.PublicIP)},
		{"ice-loopback", "gather only loopback ICE candidates (local demos and tests)", (*boolValue)(&c.ICELoopback)},
		{"pion-send", "send viewers' packets through Pion's per-packet path instead of the SFU's direct SRTP path (comparison runs)", (*boolValue)(&c.PionSend)},
		{"pion-ingest", "receive publishers' packets through Pion's per-packet path instead of the SFU's direct SRTP receive path (comparison runs)", (*boolValue)(&c.PionIngest)},
		{"no-gso", "send each datagram to viewers as its own message instead of one UDP GSO message per run of a viewer's back-to-back packets (comparison runs)", (*boolValue)(&c.NoGSO)},
		{"read-coalesce", "when a read of the ICE socket finds several datagrams waiting, let the next ones gather this `duration` before reading again (fewer wake-ups under load); 0 = read each as it comes; at most 10ms", (*durationValue)(&c.ReadCoalesce)},
		{"viewer-auth", "require a token with the subscribe grant to watch", (*boolValue)(&c.ViewerAuth)},
		{"ice-server", "STUN/TURN `URL` given to clients, repeatable or comma separated: stun:host[:port] or turn[s]:[user:pass@]host[:port][?transport=udp|tcp]", &listValue{p: &c.ICEServers}},
		{"allowed-origins", "comma separated extra `origins` allowed to open the WebSocket, e.g. https://shop.example.com", &listValue{p: &c.AllowedOrigins}},
		{"max-conns", "`maximum` peer connections in total; 0 = no limit", (*intValue)(&c.MaxConns)},
		{"max-conns-per-ip", "`maximum` peer connections per client IP; 0 = no limit", (*intValue)(&c.MaxConnsPerIP)},
		{"log-level", "log `level`: debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"log-format", "log `format`: text or json", (*stringValue)(&c.LogFormat)},
		{"public-url", "base `URL` printed in the ready links and used in absolute URLs; default derived from --http (e.g. http://localhost:8080)", (*stringValue)(&c.PublicURL)},
		{"tls-cert", "PEM certificate `file`: serve HTTPS (with --tls-key); browsers allow camera access only on https:// pages or localhost", (*stringValue)(&c.TLSCert)},
		{"tls-key", "PEM private key `file` for --tls-cert", (*stringValue)(&c.TLSKey)},
	}, slices.Concat(c.Archive.settings(), c.SignIn.settings(), c.Webhooks.settings(), c.Catalog.settings(), c.Cluster.settings(), c.Drain.settings(), c.Limits.settings(), c.LiveHLS.settings(), c.LiveEvents.settings())...)
}

// FlagNames lists every flag RegisterFlags defines, in order.
func FlagNames() []string {
	var c Config
	var names []string
	for _, s := range c.settings() {
		names = append(names, s.name)
	}
	return names
}

// RegisterFlags defines one flag per setting on fs, writing into c. The
// current values of c are the flags' defaults; each help text names the
// flag's environment variable.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	for _, s := range c.settings() {
		fs.Var(s.value, s.name, fmt.Sprintf("%s (env %s)", s.usage, EnvVar(s.name)))
	}
}

// ApplyEnv sets every field whose RELAYCAST_* variable lookup finds (lookup is
// os.LookupEnv in production). Lists are comma separated; booleans take
// strconv.ParseBool values. Errors name the variable and wrap ErrInvalid.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, s := range c.settings() {
		name := EnvVar(s.name)
		v, ok := lookup(name)
		if !ok {
			continue
		}
		if err := s.value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, name, v, err))
		}
	}
	return errors.Join(errs...)
}

// Load builds a Config from defaults, then the environment, then the flags in
// args (parsed with fs, on which the flags are registered), fills in
// PublicURL and validates the result. It returns flag.ErrHelp unchanged when
// args ask for help.
func Load(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	c.RegisterFlags(fs) // defaults shown in -help are the built-in ones
	if lookup != nil {
		if err := c.ApplyEnv(lookup); err != nil {
			return Config{}, err
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrInvalid, fs.Arg(0))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	c.PublicURL = c.BaseURL()
	return c, nil
}

// BaseURL returns PublicURL without a trailing slash, or when it is empty
// "http://HOST:PORT" derived from HTTPAddr, with "localhost" for an empty or
// unspecified (0.0.0.0, ::) host.
func (c Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return c.Scheme() + "://" + net.JoinHostPort(host, port)
}

// Scheme is "https" when TLS is configured, else "http".
func (c Config) Scheme() string {
	if c.TLSCert != "" {
		return "https"
	}
	return "http"
}

// SlogLevel returns LogLevel as a slog.Level (info when unknown; Validate
// rejects unknown levels).
func (c Config) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Validate checks every field and returns all problems joined, each naming
// its flag and wrapping ErrInvalid.
func (c Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: --%s: %s", ErrInvalid, flagName, fmt.Sprintf(format, args...)))
	}

	if c.ReadCoalesce < 0 || c.ReadCoalesce > 10*time.Millisecond {
		bad("read-coalesce", "%v is outside 0..10ms", c.ReadCoalesce)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	for _, f := range []struct{ flag, path string }{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.flag, "%v", err)
			}
		}
	}
	if host, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("http", "%q is not host:port (e.g. :8080 or 127.0.0.1:8080): %v", c.HTTPAddr, err)
	} else {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("http", "port %q of %q is not a number in 0..65535", port, c.HTTPAddr)
		}
		if strings.ContainsAny(host, " /") {
			bad("http", "bad host %q", host)
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", "must not be empty")
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 16 {
		bad("auth-secret", "must be at least 16 bytes, got %d (leave empty to generate one)", len(c.AuthSecret))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"ice-udp-port", c.ICEUDPPort}, {"ice-tcp-port", c.ICETCPPort}} {
		if p.v < 0 || p.v > 65535 {
			bad(p.name, "%d is not a port in 0..65535", p.v)
		}
	}
	if c.PublicIP != "" && net.ParseIP(c.PublicIP) == nil {
		bad("public-ip", "%q is not an IP address", c.PublicIP)
	}
	for _, s := range c.ICEServers {
		if _, err := ParseICEServer(s); err != nil {
			bad("ice-server", "%v", err)
		}
	}
	for _, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			bad("allowed-origins", "%v", err)
		}
	}
	if c.MaxConns < 0 {
		bad("max-conns", "must be >= 0 (0 = no limit), got %d", c.MaxConns)
	}
	if c.MaxConnsPerIP < 0 {
		bad("max-conns-per-ip", "must be >= 0 (0 = no limit), got %d", c.MaxConnsPerIP)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "%q is not one of text, json", c.LogFormat)
	}
	c.Archive.validate(bad)
	c.SignIn.validate(bad)
	c.Webhooks.validate(bad)
	c.Catalog.validate(bad)
	c.Cluster.validate(bad)
	c.Drain.validate(bad)
	c.Limits.validate(bad)
	c.LiveHLS.validate(bad)
	c.LiveEvents.validate(bad)
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("public-url", "%q is not an http(s)://host[:port][/path] URL", c.PublicURL)
		}
	}
	return errors.Join(errs...)
}

// checkOrigin accepts a browser origin: scheme://host[:port], nothing more.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin like https://shop.example.com", o)
	}
	return nil
}
