package revocation

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
)

func backends(t *testing.T) map[string]redis.UniversalClient {
	_, mini := redistest.Mini(t)
	out := map[string]redis.UniversalClient{"miniredis": mini}
	if real := redistest.Real(t, redis.Options{DB: 1}); real != nil {
		out["redis-server"] = real
	}
	return out
}

// Two nodes on one Redis: a revocation on one is in force on the other within moments (the
// change notice), for the tokens issued before it only; lifting it lets them work again.
func TestRevokeAcrossNodes(t *testing.T) {
	for name, rdb := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			key := "test:revoked:" + strings.ReplaceAll(t.Name(), "/", "-")
			rdb.Del(ctx, key)
			var changes atomic.Int32
			a, err := New(Params{Redis: rdb, Key: key, Refresh: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := New(Params{Redis: rdb, Key: key, Refresh: time.Hour, OnChange: func() { changes.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			time.Sleep(100 * time.Millisecond) // b's subscription is up
			issued := time.Now().Add(-time.Minute)
			e, err := a.Revoke(ctx, "u-1")
			if err != nil || e.Subject != "u-1" || e.RevokedAt.IsZero() {
				t.Fatalf("Revoke: %+v %v", e, err)
			}
			if !a.Revoked("u-1", issued) {
				t.Fatal("not revoked on the node that revoked it")
			}
			deadline := time.Now().Add(2 * time.Second)
			for !b.Revoked("u-1", issued) {
				if time.Now().After(deadline) {
					t.Fatal("the other node does not refuse the token 2 s after the revocation")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if changes.Load() == 0 {
				t.Error("OnChange not called")
			}
			if b.Revoked("u-2", issued) || b.Revoked("u-1", e.RevokedAt.Add(2*time.Second)) {
				t.Error("another subject, or a later token, is revoked")
			}
			list, err := b.List(ctx)
			if err != nil || len(list) != 1 || list[0].Subject != "u-1" {
				t.Fatalf("List: %+v %v", list, err)
			}
			if ok, err := b.Lift(ctx, "u-1"); !ok || err != nil {
				t.Fatalf("Lift: %v %v", ok, err)
			}
			for deadline := time.Now().Add(2 * time.Second); a.Revoked("u-1", issued); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("still revoked on the first node after the lift")
				}
			}
			if _, err := a.Revoke(ctx, ""); !errors.Is(err, ErrBadSubject) {
				t.Errorf("an empty subject: %v", err)
			}
			if _, err := a.Revoke(ctx, strings.Repeat("x", MaxSubject+1)); !errors.Is(err, ErrBadSubject) {
				t.Errorf("a long subject: %v", err)
			}
		})
	}
}
