//go:build !linux

package client

import "net"

// UDP GRO is Linux only; elsewhere the lean viewer reads one datagram at a time.
func enableGRO(*net.UDPConn) bool { return false }

var groOOBSize = 0

func groSegmentSize([]byte) int { return 0 }
