package client

import (
	"net"
	"syscall"
	"unsafe"
)

// udpGRO is the Linux socket option (level SOL_UDP) that lets a UDP socket receive a GSO
// message (UDP_SEGMENT, sent as one buffer of equal-size segments) as one read, and the type of
// the control message that then carries the segment size.
const (
	solUDP = 17 // IPPROTO_UDP
	udpGRO = 104
)

// enableGRO turns UDP_GRO on for c; false when the kernel refuses (the socket then receives
// every datagram on its own, as without it).
func enableGRO(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), solUDP, udpGRO, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// groOOBSize is room for the UDP_GRO control message (an int).
var groOOBSize = syscall.CmsgSpace(4)

// groSegmentSize returns the segment size from the UDP_GRO control message in oob, or 0 when
// there is none (the read holds one datagram).
func groSegmentSize(oob []byte) int {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == solUDP && h.Type == udpGRO && l >= syscall.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[syscall.CmsgLen(0)])))
		}
		next := syscall.CmsgSpace(l - syscall.CmsgLen(0))
		if next > len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}
