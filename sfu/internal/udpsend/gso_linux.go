package udpsend

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

var errNotIPv4 = errors.New("sendmmsg: not one IPv4 UDP datagram buffer")

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

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// rawSendScratch is one sendmmsg call's argument arrays.
type rawSendScratch struct {
	hdrs  [batchMax]mmsghdr
	iovs  [batchMax]unix.Iovec
	names [batchMax]unix.RawSockaddrInet4
}

// rawSendmmsg returns a sendmmsg for an IPv4 UDP socket (the Conn's write) that enters the
// kernel without telling Go's scheduler (RawSyscall): the socket is non-blocking and a sendmmsg
// only burns CPU in the kernel (on loopback it also delivers every datagram), so there is nothing
// to wait for that would need the P given away. Through x/net (Syscall) each call of the flushers
// — hundreds of µs with GSO on loopback — looked like a blocked syscall to sysmon, which took the
// flusher's P, woke another thread to run it, and kept itself polling every 20 µs: ≈ 12 % of the
// SFU's CPU at 300 viewers in usleep alone (docs/PERFORMANCE.md, "User-space send cost"). A full
// socket buffer (EAGAIN) waits on the poller as before.
func rawSendmmsg(c *net.UDPConn) (func([]ipv4.Message) (int, error), error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	pool := sync.Pool{New: func() any { return new(rawSendScratch) }}
	return func(ms []ipv4.Message) (int, error) {
		if len(ms) > batchMax {
			ms = ms[:batchMax]
		}
		s := pool.Get().(*rawSendScratch)
		defer pool.Put(s)
		for i := range ms {
			m := &ms[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			ip4 := ua.IP.To4()
			if !ok || ip4 == nil || len(m.Buffers) != 1 || len(m.Buffers[0]) == 0 {
				return 0, errNotIPv4
			}
			sa := &s.names[i]
			sa.Family = unix.AF_INET
			port := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
			port[0], port[1] = byte(ua.Port>>8), byte(ua.Port)
			copy(sa.Addr[:], ip4)
			iov := &s.iovs[i]
			iov.Base = &m.Buffers[0][0]
			iov.SetLen(len(m.Buffers[0]))
			h := &s.hdrs[i].hdr
			*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(sa)), Namelen: unix.SizeofSockaddrInet4, Iov: iov, Iovlen: 1}
			if len(m.OOB) > 0 {
				h.Control = &m.OOB[0]
				h.SetControllen(len(m.OOB))
			}
		}
		var n int
		var errno syscall.Errno
		err := rc.Write(func(fd uintptr) bool {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(ms)), 0, 0, 0)
			n, errno = int(r), e
			return e != unix.EAGAIN
		})
		runtime.KeepAlive(ms)
		if err != nil {
			return 0, err
		}
		if errno != 0 {
			return 0, os.NewSyscallError("sendmmsg", errno)
		}
		return n, nil
	}, nil
}

// rxStampRoom holds an SCM_TIMESTAMPNS control message (a 16-byte timespec).
const rxStampRoom = 64

// enableRxTimestamps asks the kernel to stamp every datagram c receives with its arrival time
// (SO_TIMESTAMPNS), for the arrival times TWCC feedback reports; false if it cannot.
func enableRxTimestamps(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// rxTimestamp finds the SCM_TIMESTAMPNS control message in oob.
func rxTimestamp(oob []byte) (time.Time, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return time.Time{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l-unix.CmsgLen(0) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return time.Unix(ts.Sec, ts.Nsec), true
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return time.Time{}, false
}
