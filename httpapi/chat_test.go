package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
)

type apiChat struct {
	ID      int64  `json:"id"`
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Text    string `json:"text"`
	Role    string `json:"role"`
}

// POST chat (201, 401/403, the chat refusals with their codes) and GET chat?after= (the
// history after an id, oldest first).
func TestChatAPI(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveAPI) {
		r := liveRoom("talk")
		path := "/api/rooms/" + r + "/chat"
		var ids []int64
		for i := range 6 {
			tok := s.tok(t, r, fmt.Sprintf("u-%d", i%3), auth.GrantChat)
			var m apiChat
			if code, b := s.call(t, "POST", path, tok, fmt.Sprintf(`{"text":"msg %d <i>"}`, i), &m); code != 201 || m.ID == 0 || m.Text != fmt.Sprintf("msg %d <i>", i) {
				t.Fatalf("post: %d %s", code, b)
			}
			ids = append(ids, m.ID)
		}
		seller := s.tok(t, r, "seller", auth.GrantPublish)
		var sm apiChat
		if code, b := s.call(t, "POST", path, seller, `{"text":"welcome"}`, &sm); code != 201 || sm.Role != "seller" {
			t.Fatalf("seller post: %d %s", code, b)
		}
		for _, c := range []struct {
			name, token, body, code string
			want                    int
		}{
			{"no token", "", `{"text":"x"}`, "", 401},
			{"bad token", "nope", `{"text":"x"}`, "", 401},
			{"other room", s.tok(t, "elsewhere", "x", auth.GrantChat), `{"text":"x"}`, "", 403},
			{"too long", s.tok(t, r, "long", auth.GrantChat), `{"text":"` + strings.Repeat("x", 3000) + `"}`, "too_long", 400},
			{"empty", s.tok(t, r, "empty", auth.GrantChat), `{"text":"  "}`, "bad_request", 400},
			{"control", s.tok(t, r, "ctl", auth.GrantChat), `{"text":"a\u0007"}`, "bad_request", 400},
			{"not JSON", s.tok(t, r, "nj", auth.GrantChat), `text=hi`, "", 400},
		} {
			code, b := s.call(t, "POST", path, c.token, c.body, nil)
			if code != c.want || (c.code != "" && !strings.Contains(b, `"code":"`+c.code+`"`)) {
				t.Errorf("post %s: %d %s, want %d %s", c.name, code, b, c.want, c.code)
			}
		}
		// Rate limit: a fourth message within 2 s.
		flood := s.tok(t, r, "flood", auth.GrantChat)
		for i := range 3 {
			if code, _ := s.call(t, "POST", path, flood, `{"text":"f"}`, nil); code != 201 {
				t.Fatalf("flood %d: %d", i, code)
			}
		}
		if code, b := s.call(t, "POST", path, flood, `{"text":"f"}`, nil); code != 429 || !strings.Contains(b, `"code":"rate_limited"`) {
			t.Errorf("rate limited: %d %s", code, b)
		}

		var all, after []apiChat
		if code, _ := s.call(t, "GET", path, "", "", &all); code != 200 || len(all) != 10 || all[0].ID != ids[0] {
			t.Fatalf("history: %d %+v", code, all)
		}
		if code, _ := s.call(t, "GET", path+"?after="+strconv.FormatInt(ids[3], 10), "", "", &after); code != 200 || len(after) != 6 || after[0].ID != ids[4] {
			t.Fatalf("history after %d: %d %+v", ids[3], code, after)
		}
		if code, _ := s.call(t, "GET", path+"?limit=2", "", "", &after); code != 200 || len(after) != 2 || after[1].ID != all[9].ID {
			t.Fatalf("last 2: %d %+v", code, after)
		}
		for _, q := range []string{"?after=-1", "?after=x", "?limit=0", "?limit=100000"} {
			if code, _ := s.call(t, "GET", path+q, "", "", nil); code != 400 {
				t.Errorf("history %s: %d", q, code)
			}
		}
	})
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event string
	Data      json.RawMessage
}

// roomSSE opens GET /api/rooms/{room}/events with query and Last-Event-ID (if non-empty).
func (s *liveAPI) roomSSE(t *testing.T, room, query, lastID string) (int, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/rooms/"+room+"/events"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 4096)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	if res.StatusCode != 200 {
		res.Body.Close()
		close(done)
		return res.StatusCode, ch
	}
	go func() {
		defer close(done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Event != "" {
					ch <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.Data = json.RawMessage(line[6:])
			}
		}
	}()
	return 200, ch
}

func nextSSE(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no SSE event")
	}
	return sseEvent{}
}

// GET /api/rooms/{room}/events: the events after ?after= (Last-Event-ID wins), then live ones,
// each once with id = seq and event = kind; a forged after is 400 bad_seq; an after older than
// the kept events starts with event reset.
func TestRoomEventsSSE(t *testing.T) {
	liveBackends(t, func(t *testing.T, s *liveAPI) {
		r := liveRoom("sse")
		ctx := context.Background()
		for i := range 10 {
			if _, err := s.Stream().Emit(ctx, r, "test", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		code, ch := s.roomSSE(t, r, "?after=2", "7")
		if code != 200 {
			t.Fatalf("events: %d", code)
		}
		for want := 8; want <= 10; want++ {
			e := nextSSE(t, ch)
			var ev struct {
				Seq  int64           `json:"seq"`
				Room string          `json:"room"`
				Kind string          `json:"kind"`
				Data json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(e.Data, &ev)
			if e.ID != strconv.Itoa(want) || e.Event != "test" || ev.Seq != int64(want) || ev.Room != r || string(ev.Data) != fmt.Sprintf(`{"i":%d}`, want-1) {
				t.Fatalf("replayed %+v, want seq %d", e, want)
			}
		}
		chatTok := s.tok(t, r, "u-1", auth.GrantChat)
		if code, _ := s.call(t, "POST", "/api/rooms/"+r+"/chat", chatTok, `{"text":"live"}`, nil); code != 201 {
			t.Fatal(code)
		}
		if e := nextSSE(t, ch); e.ID != "11" || e.Event != "chat" || !strings.Contains(string(e.Data), `"text":"live"`) {
			t.Fatalf("live event %+v", e)
		}
		if code, _ := s.roomSSE(t, r, "?after=12", ""); code != 400 {
			t.Errorf("forged after: %d", code)
		}
		if code, _ := s.roomSSE(t, r, "", "x"); code != 400 {
			t.Errorf("bad Last-Event-ID: %d", code)
		}
		if code, _ := s.roomSSE(t, "bad%20room", "", ""); code != 400 {
			t.Errorf("bad room: %d", code)
		}
		for i := range 2100 { // more than the stream keeps (2000, trimmed every 64)
			if _, err := s.Stream().Emit(ctx, r, "test", map[string]int{"j": i}); err != nil {
				t.Fatal(err)
			}
		}
		_, gap := s.roomSSE(t, r, "?after=3", "")
		if e := nextSSE(t, gap); e.Event != "reset" || e.ID != "2111" {
			t.Fatalf("gap: %+v", e)
		}
		if _, err := s.Stream().Emit(ctx, r, "test", "after"); err != nil {
			t.Fatal(err)
		}
		if e := nextSSE(t, gap); e.ID != "2112" {
			t.Fatalf("after the reset: %+v", e)
		}
	})
}
