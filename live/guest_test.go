package live

import (
	"strings"
	"testing"
)

// A guest key names its subject only under the key that signed it; anything else is refused.
func TestGuestKeys(t *testing.T) {
	g := newGuestKeys([]byte("secret-1"))
	id := Guest("Ana")
	key := g.issue(id.Subject)
	if sub, ok := g.subject(key); !ok || sub != id.Subject {
		t.Fatalf("subject(%q) = %q, %v; want %q", key, sub, ok, id.Subject)
	}
	hexID := strings.TrimPrefix(id.Subject, "guest:")
	other := newGuestKeys([]byte("secret-2"))
	for _, bad := range []string{
		"", "x", key + "x", key[:len(key)-1], strings.ToUpper(hexID) + key[len(hexID):],
		other.issue(id.Subject),               // another server's secret
		"0000000000000000" + key[len(hexID):], // the signature of another id
		hexID + "." + strings.Repeat("A", 22), // a made-up signature
		hexID, "guest:" + hexID, strings.Repeat("a", 200),
	} {
		if sub, ok := g.subject(bad); ok {
			t.Errorf("subject(%q) accepted as %q", bad, sub)
		}
	}
	if g.issue("u-17") != "" || g.issue("guest:nothex") != "" {
		t.Error("a key for a subject that is not a guest's")
	}
	// Without a configured key, keys are random per process: still valid in it, not elsewhere.
	r1, r2 := newGuestKeys(nil), newGuestKeys(nil)
	if _, ok := r1.subject(r1.issue(id.Subject)); !ok {
		t.Error("random key: own key refused")
	}
	if _, ok := r2.subject(r1.issue(id.Subject)); ok {
		t.Error("random keys: one process accepts another's key")
	}
}
