//go:build !linux

package sfu

import "net"

// Without Linux's UDP_SEGMENT every datagram is its own message.

func gsoSupported(*net.UDPConn) bool { return false }

func putGSOCmsg(b []byte, _ uint16) []byte { return b[:0] }

func gsoRefused(error) bool { return true }
