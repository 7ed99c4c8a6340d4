package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ICEServer is one parsed --ice-server entry.
type ICEServer struct {
	URL        string // credential-free RFC 7064/7065 URI, e.g. "turn:turn.example.com:3478?transport=udp"
	Username   string // TURN only; empty for STUN
	Credential string // TURN only; empty for STUN
}

// ParseICEServer parses one --ice-server value:
//
//	stun:host[:port]
//	turn:[user:pass@]host[:port][?transport=udp|tcp]
//	turns:[user:pass@]host[:port][?transport=tcp]
//
// The optional user:pass@ part is split off into Username / Credential (the
// username must not contain ':' or '@'; the password may contain ':' but not
// '@'). IPv6 hosts go in brackets: turn:[2001:db8::1]:3478.
func ParseICEServer(s string) (ICEServer, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ICEServer{}, fmt.Errorf("ICE server %q: missing scheme (stun:, stuns:, turn:, turns:)", s)
	}
	scheme = strings.ToLower(scheme)
	turn := scheme == "turn" || scheme == "turns"
	if !turn && scheme != "stun" && scheme != "stuns" {
		return ICEServer{}, fmt.Errorf("ICE server %q: scheme %q is not stun, stuns, turn or turns", s, scheme)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	var srv ICEServer
	if at := strings.LastIndex(hostport, "@"); at >= 0 {
		if !turn {
			return ICEServer{}, fmt.Errorf("ICE server %q: only turn/turns URLs take user:pass@", s)
		}
		user, pass, ok := strings.Cut(hostport[:at], ":")
		if !ok || user == "" || pass == "" || strings.Contains(hostport[:at], "@") {
			return ICEServer{}, fmt.Errorf("ICE server %q: credentials must be user:pass@", s)
		}
		srv.Username, srv.Credential = user, pass
		hostport = hostport[at+1:]
	}
	if hostport == "" || strings.ContainsAny(hostport, "/ ") {
		return ICEServer{}, fmt.Errorf("ICE server %q: missing or bad host", s)
	}
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return ICEServer{}, fmt.Errorf("ICE server %q: bad host:port %q", s, hostport)
		}
	} else if strings.Contains(strings.Trim(hostport, "[]"), ":") && !strings.HasPrefix(hostport, "[") {
		return ICEServer{}, fmt.Errorf("ICE server %q: bad host:port %q (bracket IPv6 addresses)", s, hostport)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || !turn || len(q) != 1 || len(q["transport"]) != 1 {
			return ICEServer{}, fmt.Errorf("ICE server %q: the only query allowed is ?transport=udp|tcp on turn URLs", s)
		}
		if t := q.Get("transport"); t != "udp" && t != "tcp" {
			return ICEServer{}, fmt.Errorf("ICE server %q: transport %q is not udp or tcp", s, t)
		}
	}
	srv.URL = scheme + ":" + hostport
	if query != "" {
		srv.URL += "?" + query
	}
	return srv, nil
}

// ICEServerList parses every entry of ICEServers.
func (c Config) ICEServerList() ([]ICEServer, error) {
	out := make([]ICEServer, 0, len(c.ICEServers))
	for _, s := range c.ICEServers {
		srv, err := ParseICEServer(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --ice-server: %v", ErrInvalid, err)
		}
		out = append(out, srv)
	}
	return out, nil
}

// LinkHeader renders the server as a WHIP/WHEP Link header value (RFC 9725
// section 4.6), e.g.
//
//	<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"
func (s ICEServer) LinkHeader() string {
	v := "<" + s.URL + `>; rel="ice-server"`
	if s.Username != "" {
		v += "; username=" + strconv.Quote(s.Username) + "; credential=" + strconv.Quote(s.Credential) + `; credential-type="password"`
	}
	return v
}
