package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var errNo = errors.New("not allowed")

func TestControl(t *testing.T) {
	tests := []struct {
		addr          string
		allowLoopback bool
		want          string // "" = allowed
	}{
		{"93.184.215.14:443", false, ""},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", false, ""},
		{"127.0.0.1:80", false, "loopback"},
		{"127.0.0.1:80", true, ""},
		{"[::1]:80", false, "loopback"},
		{"10.0.0.1:9", true, "private"},
		{"192.168.1.10:80", false, "private"},
		{"[fd00::1]:80", false, "private"},
		{"169.254.169.254:80", true, "link-local"},
		{"[fe80::1]:80", false, "link-local"},
		{"0.0.0.0:80", false, "unspecified"},
		{"0.1.2.3:80", false, "reserved"},
		{"100.64.0.1:80", false, "reserved"},
		{"[::ffff:10.0.0.1]:80", false, "private"},
		{"[2002:a00:1::]:80", false, "reserved"},
		{"224.0.0.1:80", false, "link-local"},
		{"239.1.2.3:80", false, "multicast"},
		{"localhost:80", true, "not allowed: localhost"},
		{"no-port", false, "not allowed: no-port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := Control(tt.allowLoopback, errNo)("tcp", tt.addr, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errNo) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q wrapping the sentinel", err, tt.want)
			}
		})
	}
	if Problem(netip.Addr{}, true) == "" {
		t.Fatal("the zero address is allowed")
	}
}
