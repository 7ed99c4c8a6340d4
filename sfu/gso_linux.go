package sfu

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (Linux ≥ 4.18): a sendmsg with a UDP_SEGMENT control message
// carries several datagrams for one destination, which the kernel takes through its UDP/IP
// stack as one packet and cuts into datagrams of the given size at the end (in the driver or
// in software just before it).

// gsoSupported reports whether the kernel knows UDP_SEGMENT on c (getsockopt answers).
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// putGSOCmsg writes a UDP_SEGMENT control message for segments of seg bytes into b (at least
// unix.CmsgSpace(2) bytes) and returns it.
func putGSOCmsg(b []byte, seg uint16) []byte {
	b = b[:unix.CmsgSpace(2)]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = seg
	return b
}

// gsoRefused reports whether a send error on a GSO message means the kernel or the route cannot
// do GSO (no checksum offload: EIO; a size or socket option it does not accept: EINVAL,
// EMSGSIZE; not implemented: EOPNOTSUPP, ENOPROTOOPT), rather than a failure of this datagram.
func gsoRefused(err error) bool {
	for _, e := range []error{unix.EIO, unix.EINVAL, unix.EMSGSIZE, unix.EOPNOTSUPP, unix.ENOPROTOOPT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
