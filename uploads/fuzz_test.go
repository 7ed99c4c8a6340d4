package uploads

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/internal/netguard"
	"github.com/relaycast/relaycast/storage"
)

// FuzzCompleteParts checks a POST /api/uploads/{id}/complete body (the client's part list)
// against the parts that arrived, for fuzzed file and part sizes. Properties: the parts'
// lengths add up to the file size, each 1..PartSize; a refusal wraps ErrInvalid; the list the
// client got (numbers 1..n with the stored ETags) is accepted.
func FuzzCompleteParts(f *testing.F) {
	f.Add(int64(25<<20), int64(8<<20), []byte(`{"parts":[{"number":1,"etag":"\"a\""},{"number":2,"etag":"b"},{"number":3,"etag":"c"},{"number":4,"etag":"d"}]}`))
	f.Add(int64(1), int64(8<<20), []byte(`{"parts":[{"number":1,"etag":"a"}]}`))
	f.Add(int64(16<<20), int64(8<<20), []byte(`{"parts":[{"number":2,"etag":"b"},{"number":1,"etag":"a"}]}`))
	f.Add(int64(10), int64(3), []byte(`{"parts":[]}`))
	f.Add(int64(10), int64(3), []byte(`{"parts":[{"number":-1},{"number":9223372036854775807}]}`))
	f.Fuzz(func(t *testing.T, size, partSize int64, body []byte) {
		if size <= 0 || partSize <= 0 || size/partSize > 1000 {
			return // Create refuses these sizes (and the part size is the server's)
		}
		u := catalog.Upload{ID: "u1", Size: size, PartSize: partSize}
		n := u.Parts()
		var sum int64
		have := make([]storage.Part, n)
		good := make([]Part, n)
		for i := 1; i <= n; i++ {
			l := u.PartLen(i)
			if l <= 0 || l > partSize {
				t.Fatalf("size %d part size %d: part %d is %d bytes", size, partSize, i, l)
			}
			sum += l
			tag := strconv.Itoa(i)
			have[i-1] = storage.Part{Number: int32(i), ETag: `"` + tag + `"`, Size: l}
			good[i-1] = Part{Number: i, ETag: tag}
		}
		if sum != size {
			t.Fatalf("parts add up to %d, not %d", sum, size)
		}
		if err := checkParts(u, good, have); err != nil {
			t.Fatalf("the right list refused: %v", err)
		}
		var req struct {
			Parts []Part `json:"parts"`
		}
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if err := checkParts(u, req.Parts, have); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("checkParts = %v: not ErrInvalid", err)
		}
	})
}

// FuzzImportAddress is the SSRF guard of URL imports and webhooks (internal/netguard) as the
// dialer sees each address it is about to connect to. Properties: loopback, private,
// link-local, unspecified and multicast addresses (also IPv4-mapped) are never allowed, and
// loopback only when configured; every refusal wraps the caller's sentinel; an address that is
// not an IP literal is refused.
func FuzzImportAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:443", "10.0.0.1:80", "[::ffff:192.168.1.1]:80", "169.254.169.254:80",
		"[fe80::1%eth0]:80", "0.0.0.0:80", "93.184.216.34:443", "[2606:4700::1]:443", "[2002:7f00:1::]:80", "localhost:80", "1.2.3.4"} {
		f.Add(s, false)
	}
	f.Add("127.0.0.1:8080", true)
	f.Fuzz(func(t *testing.T, address string, allowLoopback bool) {
		err := netguard.Control(allowLoopback, ErrAddressNotAllowed)("tcp", address, nil)
		if err != nil && !errors.Is(err, ErrAddressNotAllowed) {
			t.Fatalf("Control(%q) = %v: not ErrAddressNotAllowed", address, err)
		}
		host, _, serr := net.SplitHostPort(address)
		ip, perr := netip.ParseAddr(host)
		if serr != nil || perr != nil {
			if err == nil {
				t.Fatalf("Control allowed %q, no IP address", address)
			}
			return
		}
		u := ip.Unmap()
		internal := u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsLinkLocalMulticast() || u.IsUnspecified() || u.IsMulticast() || u.IsInterfaceLocalMulticast()
		if err == nil && (internal || u.IsLoopback() && !allowLoopback) {
			t.Fatalf("Control allowed %q (allowLoopback %v)", address, allowLoopback)
		}
		if p := addressProblem(ip, allowLoopback); (p == "") != (err == nil) {
			t.Fatalf("addressProblem(%v) = %q but Control = %v", ip, p, err)
		}
	})
}
