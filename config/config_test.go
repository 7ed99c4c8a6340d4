package config

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				want := Default()
				want.PublicURL = "http://localhost:8080"
				if !reflect.DeepEqual(c, want) {
					t.Fatalf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "env over default",
			env:  map[string]string{"RELAYCAST_ICE_UDP_PORT": "9000", "RELAYCAST_VIEWER_AUTH": "true", "RELAYCAST_LOG_LEVEL": "debug"},
			check: func(t *testing.T, c Config) {
				if c.ICEUDPPort != 9000 || !c.ViewerAuth || c.LogLevel != "debug" {
					t.Fatalf("got %+v", c)
				}
			},
		},
		{
			name: "flag over env",
			env:  map[string]string{"RELAYCAST_ICE_UDP_PORT": "9000", "RELAYCAST_HTTP": ":7000"},
			args: []string{"--ice-udp-port", "9100"},
			check: func(t *testing.T, c Config) {
				if c.ICEUDPPort != 9100 {
					t.Errorf("ICEUDPPort = %d, want flag value 9100", c.ICEUDPPort)
				}
				if c.HTTPAddr != ":7000" || c.PublicURL != "http://localhost:7000" {
					t.Errorf("HTTPAddr/PublicURL = %q %q, want env :7000", c.HTTPAddr, c.PublicURL)
				}
			},
		},
		{
			name: "bool flag false over env true",
			env:  map[string]string{"RELAYCAST_ICE_LOOPBACK": "1"},
			args: []string{"--ice-loopback=false"},
			check: func(t *testing.T, c Config) {
				if c.ICELoopback {
					t.Fatal("flag should win")
				}
			},
		},
		{
			name: "bare bool flag",
			args: []string{"--ice-loopback", "--viewer-auth"},
			check: func(t *testing.T, c Config) {
				if !c.ICELoopback || !c.ViewerAuth {
					t.Fatalf("got %+v", c)
				}
			},
		},
		{
			name: "list env comma separated",
			env:  map[string]string{"RELAYCAST_ICE_SERVER": "stun:a.example:3478, turn:u:p@b.example:3478?transport=udp", "RELAYCAST_ALLOWED_ORIGINS": "https://a.example,https://b.example"},
			check: func(t *testing.T, c Config) {
				if want := []string{"stun:a.example:3478", "turn:u:p@b.example:3478?transport=udp"}; !reflect.DeepEqual(c.ICEServers, want) {
					t.Errorf("ICEServers = %q", c.ICEServers)
				}
				if want := []string{"https://a.example", "https://b.example"}; !reflect.DeepEqual(c.AllowedOrigins, want) {
					t.Errorf("AllowedOrigins = %q", c.AllowedOrigins)
				}
			},
		},
		{
			name: "list flag replaces env, repeats append",
			env:  map[string]string{"RELAYCAST_ICE_SERVER": "stun:env.example"},
			args: []string{"--ice-server", "stun:a.example", "--ice-server", "stun:b.example,stun:c.example"},
			check: func(t *testing.T, c Config) {
				if want := []string{"stun:a.example", "stun:b.example", "stun:c.example"}; !reflect.DeepEqual(c.ICEServers, want) {
					t.Fatalf("ICEServers = %q", c.ICEServers)
				}
			},
		},
		{
			name: "explicit public url kept, trailing slash dropped",
			args: []string{"--public-url", "https://live.example.com/"},
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "https://live.example.com" {
					t.Fatalf("PublicURL = %q", c.PublicURL)
				}
			},
		},
		{
			name: "public url from host",
			args: []string{"--http", "127.0.0.1:9999"},
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "http://127.0.0.1:9999" {
					t.Fatalf("PublicURL = %q", c.PublicURL)
				}
			},
		},
		{
			name: "all flags",
			args: []string{
				"--http", "0.0.0.0:80", "--data-dir", "/var/lib/rc", "--auth-secret", "0123456789abcdef",
				"--ice-udp-port", "0", "--ice-tcp-port", "8189", "--public-ip", "203.0.113.7",
				"--max-conns", "10", "--max-conns-per-ip", "0", "--log-level", "warn", "--log-format", "json",
				"--allowed-origins", "https://x.example",
			},
			check: func(t *testing.T, c Config) {
				want := Config{
					HTTPAddr: "0.0.0.0:80", DataDir: "/var/lib/rc", AuthSecret: "0123456789abcdef",
					ICEUDPPort: 0, ICETCPPort: 8189, PublicIP: "203.0.113.7", MaxConns: 10, MaxConnsPerIP: 0,
					LogLevel: "warn", LogFormat: "json", AllowedOrigins: []string{"https://x.example"},
					PublicURL: "http://localhost:80", Archive: DefaultArchive(), Drain: DefaultDrain(), Limits: DefaultLimits(), LiveHLS: DefaultLiveHLS(), LiveEvents: DefaultLiveEvents(),
				}
				if !reflect.DeepEqual(c, want) {
					t.Fatalf("got %+v\nwant %+v", c, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(newFS(), tt.args, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		mention string // substring the error must contain
	}{
		{"bad env int", map[string]string{"RELAYCAST_ICE_UDP_PORT": "abc"}, nil, "RELAYCAST_ICE_UDP_PORT"},
		{"bad env bool", map[string]string{"RELAYCAST_VIEWER_AUTH": "maybe"}, nil, "RELAYCAST_VIEWER_AUTH"},
		{"bad env value validated", map[string]string{"RELAYCAST_PUBLIC_IP": "nope"}, nil, "--public-ip"},
		{"bad flag int", nil, []string{"--max-conns", "lots"}, "max-conns"},
		{"unknown flag", nil, []string{"--nope"}, "nope"},
		{"positional arg", nil, []string{"extra"}, "extra"},
		{"invalid after parse", nil, []string{"--ice-tcp-port", "70000"}, "--ice-tcp-port"},
		{"tls cert without key", nil, []string{"--tls-cert", "/etc/hostname"}, "--tls-cert"},
		{"tls files missing", nil, []string{"--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, "nonexistent"},
		{"bad env overridden by flag still fails", map[string]string{"RELAYCAST_MAX_CONNS": "x"}, []string{"--max-conns", "5"}, "RELAYCAST_MAX_CONNS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(newFS(), tt.args, envMap(tt.env))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err %q does not mention %q", err, tt.mention)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		if _, err := Load(newFS(), []string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("err = %v, want flag.ErrHelp", err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // "" = valid; else the flag the error must name
	}{
		{"default", func(c *Config) {}, ""},
		{"http host:port", func(c *Config) { c.HTTPAddr = "127.0.0.1:8080" }, ""},
		{"http ipv6", func(c *Config) { c.HTTPAddr = "[::1]:8080" }, ""},
		{"http port 0", func(c *Config) { c.HTTPAddr = ":0" }, ""},
		{"http missing port", func(c *Config) { c.HTTPAddr = "localhost" }, "--http"},
		{"http bad port", func(c *Config) { c.HTTPAddr = ":http" }, "--http"},
		{"http port too big", func(c *Config) { c.HTTPAddr = ":65536" }, "--http"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"short secret", func(c *Config) { c.AuthSecret = "short" }, "--auth-secret"},
		{"udp port negative", func(c *Config) { c.ICEUDPPort = -1 }, "--ice-udp-port"},
		{"udp port too big", func(c *Config) { c.ICEUDPPort = 65536 }, "--ice-udp-port"},
		{"udp port 0 ok", func(c *Config) { c.ICEUDPPort = 0 }, ""},
		{"tcp port too big", func(c *Config) { c.ICETCPPort = 99999 }, "--ice-tcp-port"},
		{"read coalesce off", func(c *Config) { c.ReadCoalesce = 0 }, ""},
		{"read coalesce too long", func(c *Config) { c.ReadCoalesce = 20 * time.Millisecond }, "--read-coalesce"},
		{"read coalesce negative", func(c *Config) { c.ReadCoalesce = -time.Millisecond }, "--read-coalesce"},
		{"public ip v4", func(c *Config) { c.PublicIP = "198.51.100.1" }, ""},
		{"public ip v6", func(c *Config) { c.PublicIP = "2001:db8::1" }, ""},
		{"public ip hostname", func(c *Config) { c.PublicIP = "example.com" }, "--public-ip"},
		{"log level upper", func(c *Config) { c.LogLevel = "DEBUG" }, ""},
		{"log level unknown", func(c *Config) { c.LogLevel = "verbose" }, "--log-level"},
		{"log format unknown", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"max conns negative", func(c *Config) { c.MaxConns = -5 }, "--max-conns"},
		{"max conns per ip negative", func(c *Config) { c.MaxConnsPerIP = -1 }, "--max-conns-per-ip"},
		{"origin ok", func(c *Config) { c.AllowedOrigins = []string{"https://a.example:8443"} }, ""},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://a.example/x"} }, "--allowed-origins"},
		{"origin bare host", func(c *Config) { c.AllowedOrigins = []string{"a.example"} }, "--allowed-origins"},
		{"ice server bad", func(c *Config) { c.ICEServers = []string{"http://x"} }, "--ice-server"},
		{"public url ok", func(c *Config) { c.PublicURL = "https://live.example.com/base" }, ""},
		{"public url no scheme", func(c *Config) { c.PublicURL = "live.example.com" }, "--public-url"},
		{"several problems", func(c *Config) { c.ICEUDPPort = -1; c.LogLevel = "x" }, "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrInvalid naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterFlagsHelpNamesEnv(t *testing.T) {
	fs := newFS()
	c := Default()
	c.RegisterFlags(fs)
	for _, name := range FlagNames() {
		t.Run(name, func(t *testing.T) {
			f := fs.Lookup(name)
			if f == nil {
				t.Fatal("flag not registered")
			}
			if !strings.Contains(f.Usage, EnvVar(name)) {
				t.Fatalf("usage %q does not name %s", f.Usage, EnvVar(name))
			}
		})
	}
	if got := fs.Lookup("ice-udp-port").DefValue; got != "8189" {
		t.Errorf("ice-udp-port default shown as %q", got)
	}
}

func TestEnvVar(t *testing.T) {
	tests := map[string]string{
		"ice-udp-port":     "RELAYCAST_ICE_UDP_PORT",
		"http":             "RELAYCAST_HTTP",
		"max-conns-per-ip": "RELAYCAST_MAX_CONNS_PER_IP",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := EnvVar(in); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestBaseURLAndSlogLevel(t *testing.T) {
	tests := []struct {
		http, public, want string
	}{
		{":8080", "", "http://localhost:8080"},
		{"0.0.0.0:8080", "", "http://localhost:8080"},
		{"[::]:8080", "", "http://localhost:8080"},
		{"[::1]:8080", "", "http://[::1]:8080"},
		{"192.0.2.1:80", "", "http://192.0.2.1:80"},
		{":8080", "https://x.example/", "https://x.example"},
	}
	for _, tt := range tests {
		t.Run(tt.http+" "+tt.public, func(t *testing.T) {
			c := Config{HTTPAddr: tt.http, PublicURL: tt.public}
			if got := c.BaseURL(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		t.Run("level "+in, func(t *testing.T) {
			if got := (Config{LogLevel: in}).SlogLevel(); got != want {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseICEServer(t *testing.T) {
	tests := []struct {
		in      string
		want    ICEServer
		wantErr bool
	}{
		{in: "stun:stun.l.google.com:19302", want: ICEServer{URL: "stun:stun.l.google.com:19302"}},
		{in: "stun:stun.example.com", want: ICEServer{URL: "stun:stun.example.com"}},
		{in: "turn:turn.example.com:3478?transport=udp", want: ICEServer{URL: "turn:turn.example.com:3478?transport=udp"}},
		{in: "turn:alice:s3:cr3t@turn.example.com:3478?transport=tcp", want: ICEServer{URL: "turn:turn.example.com:3478?transport=tcp", Username: "alice", Credential: "s3:cr3t"}},
		{in: "turns:u:p@turn.example.com:5349", want: ICEServer{URL: "turns:turn.example.com:5349", Username: "u", Credential: "p"}},
		{in: "turn:[2001:db8::1]:3478", want: ICEServer{URL: "turn:[2001:db8::1]:3478"}},
		{in: "TURN:h", want: ICEServer{URL: "turn:h"}},
		{in: "stun.example.com", wantErr: true},
		{in: "http://x", wantErr: true},
		{in: "stun:", wantErr: true},
		{in: "stun:u:p@host", wantErr: true},
		{in: "stun:host?transport=udp", wantErr: true},
		{in: "turn:host:0", wantErr: true},
		{in: "turn:host:abc", wantErr: true},
		{in: "turn:u@host", wantErr: true},
		{in: "turn:host?transport=sctp", wantErr: true},
		{in: "turn:2001:db8::1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseICEServer(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLinkHeader(t *testing.T) {
	tests := []struct {
		srv  ICEServer
		want string
	}{
		{ICEServer{URL: "stun:s.example:3478"}, `<stun:s.example:3478>; rel="ice-server"`},
		{ICEServer{URL: "turn:t.example:3478?transport=udp", Username: "u", Credential: "p"},
			`<turn:t.example:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`},
	}
	for _, tt := range tests {
		t.Run(tt.srv.URL, func(t *testing.T) {
			if got := tt.srv.LinkHeader(); got != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLimitsFlags(t *testing.T) {
	c, err := Load(newFS(), []string{"--rate-limit-ip", "5,10", "--rate-limit-user", "off", "--trusted-proxies", "10.0.0.0/8,127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip, user, socket := c.Rules()
	if ip.Rate != 5 || ip.Burst != 10 || !user.Off() || socket.Rate != 30 {
		t.Errorf("rules %+v %+v %+v", ip, user, socket)
	}
	for _, args := range [][]string{{"--rate-limit-ip", "fast"}, {"--rate-limit-socket", "5,0"}, {"--trusted-proxies", "lb.example"}} {
		if _, err := Load(newFS(), args, nil); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
}
