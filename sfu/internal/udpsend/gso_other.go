//go:build !linux

package udpsend

import (
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// Without Linux's UDP_SEGMENT every datagram is its own message.

func gsoSupported(*net.UDPConn) bool { return false }

func putGSOCmsg(b []byte, _ uint16) []byte { return b[:0] }

func gsoRefused(error) bool { return true }

// rawSendmmsg: off Linux the Conn writes through x/net.
func rawSendmmsg(*net.UDPConn) (func([]ipv4.Message) (int, error), error) {
	return nil, errors.New("no raw sendmmsg here")
}

const rxStampRoom = 0

func enableRxTimestamps(*net.UDPConn) bool { return false }

func rxTimestamp([]byte) (time.Time, bool) { return time.Time{}, false }
