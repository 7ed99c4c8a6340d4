package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

func TestClusterSettings(t *testing.T) {
	load := func(args ...string) (Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return Load(fs, args, func(string) (string, bool) { return "", false })
	}
	cfg, err := load("--http", "127.0.0.1:9123", "--public-url", "http://shop.example:9123/")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if want := strings.ReplaceAll(host, "/", "-") + "-9123"; cfg.NodeIDOrDefault() != want && host != "" {
		t.Errorf("default node id = %q, want %q", cfg.NodeIDOrDefault(), want)
	}
	if got := cfg.InternalURLOrDefault(); got != "http://shop.example:9123" {
		t.Errorf("default internal url = %q", got)
	}
	if cfg.NodeCapacity != 0 {
		t.Errorf("default capacity = %d", cfg.NodeCapacity)
	}
	cfg, err = load("--node-id", "n1", "--internal-url", "http://10.0.0.5:8080/", "--node-capacity", "800")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeIDOrDefault() != "n1" || cfg.InternalURLOrDefault() != "http://10.0.0.5:8080" || cfg.NodeCapacity != 800 {
		t.Errorf("cfg = %q %q %d", cfg.NodeIDOrDefault(), cfg.InternalURLOrDefault(), cfg.NodeCapacity)
	}
	for _, args := range [][]string{{"--node-id", "a b"}, {"--node-id", `x"y`}, {"--internal-url", "ftp://x"}, {"--node-capacity", "-1"}} {
		if _, err := load(args...); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}
