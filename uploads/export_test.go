package uploads

import (
	"context"
	"net/netip"
	"time"
)

// Hooks of the tests in package uploads_test.

// SetSkew moves the service's clock forward by d.
func SetSkew(s *Service, d time.Duration) { s.skew.Store(int64(d)) }

// CleanUploads runs the cleaner of expired uploads once.
func CleanUploads(s *Service, ctx context.Context) int { return s.cleanUploads(ctx) }

// RecoverFiles runs the recovery of interrupted uploads and imports once.
func RecoverFiles(s *Service, ctx context.Context) { s.recoverFiles(ctx) }

// AddressProblem is addressProblem.
func AddressProblem(ip netip.Addr, allowLoopback bool) string {
	return addressProblem(ip, allowLoopback)
}

// ImportClient is importClient.
var ImportClient = importClient
