package events

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func redisClients(t *testing.T) map[string]func(t *testing.T) redis.UniversalClient {
	out := map[string]func(t *testing.T) redis.UniversalClient{
		"miniredis": func(t *testing.T) redis.UniversalClient {
			m := miniredis.RunT(t)
			return redis.NewClient(&redis.Options{Addr: m.Addr()})
		},
	}
	addr := os.Getenv("RELAYCAST_TEST_REDIS")
	if addr == "" && os.Getenv("CI") == "true" {
		t.Fatal("RELAYCAST_TEST_REDIS is not set (scripts/test.sh starts redis-server)")
	}
	if addr != "" {
		out["redis"] = func(t *testing.T) redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) }
	}
	return out
}

// TestFanOut: two nodes on one Redis; an event published on one reaches SSE clients of both.
func TestFanOut(t *testing.T) {
	for name, mk := range redisClients(t) {
		t.Run(name, func(t *testing.T) {
			rc := mk(t)
			defer rc.Close()
			ch := "test:" + t.Name() + time.Now().String()
			var nodes []*Bus
			for range 2 {
				b, err := New(Params{Redis: rc, Channel: ch})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				nodes = append(nodes, b)
			}
			var readers []*bufio.Reader
			for _, b := range nodes {
				srv := httptest.NewServer(b.Handler(time.Hour, func(r *http.Request, e Event) bool {
					return r.URL.Query().Get("id") == "" || r.URL.Query().Get("id") == e.ID
				}))
				defer srv.Close()
				res, err := http.Get(srv.URL + "?id=r1")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				if res.Header.Get("Content-Type") != "text/event-stream" {
					t.Fatal(res.Header)
				}
				readers = append(readers, bufio.NewReader(res.Body))
			}
			time.Sleep(100 * time.Millisecond)                                                                  // handlers subscribed
			nodes[0].PublishData(context.Background(), "recording", "r2", map[string]string{"status": "ready"}) // filtered out
			nodes[0].PublishData(context.Background(), "recording", "r1", map[string]string{"status": "ready"})
			for i, br := range readers {
				got := readEvent(t, br)
				if !strings.Contains(got, "event: recording") || !strings.Contains(got, `"id":"r1"`) || !strings.Contains(got, `"status":"ready"`) {
					t.Fatalf("node %d got %q", i, got)
				}
			}
		})
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				done <- b.String()
				return
			}
			if strings.HasPrefix(line, ":") || strings.HasPrefix(line, "retry:") || (line == "\n" && b.Len() == 0) {
				continue
			}
			if line == "\n" {
				done <- b.String()
				return
			}
			b.WriteString(line)
		}
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return ""
	}
}

// TestEndStreams: an open stream ends when the bus ends its streams (HTTP server shutdown).
func TestEndStreams(t *testing.T) {
	m := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rc.Close()
	b, err := New(Params{Redis: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv := httptest.NewServer(b.Handler(time.Hour, nil))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(res.Body); done <- err }()
	b.EndStreams()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open")
	}
}
