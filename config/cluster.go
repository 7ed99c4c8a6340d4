package config

import (
	"net"
	"net/url"
	"os"
	"regexp"
)

// Cluster holds this node's identity in the cluster (docs/CLUSTER.md). It is embedded in
// Config, so its fields read as cfg.NodeID etc. Nodes sharing one --redis-url form one cluster;
// without --redis-url the node is a cluster of one on its embedded Redis.
type Cluster struct {
	// NodeID names the node among its peers. --node-id, default "<hostname>-<http port>".
	NodeID string
	// InternalURL is the base URL the other nodes reach this one at (handovers, edge pulls,
	// redirects). --internal-url, default --public-url (or the one derived from --http).
	InternalURL string
	// NodeCapacity is how many viewers this node is willing to serve, published for the load
	// balancer and edges; 0 = no limit. --node-capacity, default 0.
	NodeCapacity int
}

// DefaultCluster returns the documented defaults (computed from the other settings by
// NodeIDOrDefault and InternalURLOrDefault).
func DefaultCluster() Cluster { return Cluster{} }

func (c *Cluster) settings() []setting {
	return []setting{
		{"node-id", "this node's `id` in the cluster (letters, digits, . _ : -); default <hostname>-<http port>", (*stringValue)(&c.NodeID)},
		{"internal-url", "base `URL` the other nodes reach this one at; default --public-url", (*stringValue)(&c.InternalURL)},
		{"node-capacity", "`viewers` this node is willing to serve (for the load balancer and edges); 0 = no limit", (*intValue)(&c.NodeCapacity)},
	}
}

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

func (c Cluster) validate(bad func(flagName, format string, args ...any)) {
	if c.NodeID != "" && !nodeIDRe.MatchString(c.NodeID) {
		bad("node-id", "%q: use 1-128 characters from A-Z a-z 0-9 . _ : -, starting with a letter or digit", c.NodeID)
	}
	if c.InternalURL != "" {
		u, err := url.Parse(c.InternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("internal-url", "%q is not an http(s)://host[:port][/path] URL", c.InternalURL)
		}
	}
	if c.NodeCapacity < 0 {
		bad("node-capacity", "must be >= 0 (0 = no limit), got %d", c.NodeCapacity)
	}
}

// NodeIDOrDefault is NodeID, or "<hostname>-<port of --http>" (characters a node id cannot
// hold become '-').
func (c Config) NodeIDOrDefault() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	_, port, _ := net.SplitHostPort(c.HTTPAddr)
	id := []byte(host + "-" + port)
	for i, b := range id {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == ':' || b == '-') {
			id[i] = '-'
		}
	}
	if !nodeIDRe.Match(id) {
		return "node-" + port
	}
	return string(id)
}

// InternalURLOrDefault is InternalURL, or else BaseURL (--public-url, or derived from --http).
func (c Config) InternalURLOrDefault() string {
	if c.InternalURL != "" {
		return trimSlash(c.InternalURL)
	}
	return c.BaseURL()
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
