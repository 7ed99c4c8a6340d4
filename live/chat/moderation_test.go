package chat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relaycast/relaycast/live/chat"
)

// Rate 3 per Per; the 4th message inside Per is refused, later ones pass again once Per passed;
// a sender who keeps going (FloodAfter refusals inside Per) is timed out for FloodTimeout.
func TestRateLimitAndFloodTimeout(t *testing.T) {
	p := chat.Params{Rate: 3, Per: time.Second, FloodTimeout: 2 * time.Second, FloodAfter: 3}
	backends(t, p, func(t *testing.T, e *env) {
		ctx := context.Background()
		// a: 3 pass, the 4th is rate limited and changes nothing; after Per a can send again.
		for range 3 {
			mustSend(t, e, "rl", user("a"), "a")
		}
		seq := e.seq(t, "rl")
		if _, err := e.svc.Send(ctx, "rl", user("a"), "a4"); !errors.Is(err, chat.ErrRateLimited) || chat.Code(err) != "rate_limited" {
			t.Fatalf("4th message: %v", err)
		}
		if e.seq(t, "rl") != seq || len(e.history(t, "rl")) != 3 {
			t.Fatal("a rate-limited message changed the room")
		}
		mustSend(t, e, "rl", user("b"), "b is not limited by a")
		if _, err := e.node(t).Send(ctx, "rl", user("a"), "a via another node"); !errors.Is(err, chat.ErrRateLimited) {
			t.Fatalf("the rate limit is per room and user on every node: %v", err)
		}
		e.advance(p.Per)
		mustSend(t, e, "rl", user("a"), "a again")

		// c floods: 3 pass, 2 refusals, the 3rd refusal earns the time-out.
		for range 3 {
			mustSend(t, e, "rl", user("c"), "c")
		}
		for i := range 2 {
			if _, err := e.svc.Send(ctx, "rl", user("c"), "c"); !errors.Is(err, chat.ErrRateLimited) {
				t.Fatalf("refusal %d: %v", i, err)
			}
		}
		before := e.seq(t, "rl")
		if _, err := e.svc.Send(ctx, "rl", user("c"), "c"); !errors.Is(err, chat.ErrTimedOut) {
			t.Fatalf("flood: %v, want ErrTimedOut", err)
		}
		var to struct {
			Subject string `json:"subject"`
			Until   int64  `json:"until"`
			By      string `json:"by"`
		}
		ev := e.lastEvent(t, "rl", "user.timeout", &to)
		if ev.Seq != before+1 || to.Subject != "c" || to.By != "system" || to.Until < ev.At+p.FloodTimeout.Milliseconds()-5 {
			t.Fatalf("user.timeout %+v at %d", to, ev.At)
		}
		banned, until, err := e.svc.Restriction(ctx, "rl", "c")
		if err != nil || banned || until != to.Until {
			t.Fatalf("restriction %v %d %v", banned, until, err)
		}
		e.advance(p.Per + 100*time.Millisecond) // the rate window passed, the time-out did not
		if _, err := e.svc.Send(ctx, "rl", user("c"), "c"); !errors.Is(err, chat.ErrTimedOut) || chat.Code(err) != "timed_out" {
			t.Fatalf("during time-out: %v", err)
		}
		e.advance(p.FloodTimeout)
		mustSend(t, e, "rl", user("c"), "c is back")

		// d is refused twice in one window and twice in the next: no time-out (3 within Per needed).
		for round := range 2 {
			for range 3 {
				mustSend(t, e, "rl", user("d"), "d")
			}
			for range 2 {
				if _, err := e.svc.Send(ctx, "rl", user("d"), "d"); !errors.Is(err, chat.ErrRateLimited) {
					t.Fatalf("round %d: %v, want ErrRateLimited", round, err)
				}
			}
			e.advance(p.Per + 10*time.Millisecond)
		}
		if _, until, _ := e.svc.Restriction(ctx, "rl", "d"); until != 0 {
			t.Fatalf("d timed out until %d", until)
		}

		// A moderator is rate limited too, but never timed out automatically.
		mod := chat.Sender{Subject: "m", Name: "Mod", Moderator: true}
		for range 3 {
			mustSend(t, e, "rl", mod, "m")
		}
		for range 5 {
			if _, err := e.svc.Send(ctx, "rl", mod, "m"); !errors.Is(err, chat.ErrRateLimited) {
				t.Fatalf("moderator over the rate: %v", err)
			}
		}
	})
}

func TestSlowMode(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		st, err := e.svc.SetSettings(ctx, "slow", chat.Settings{SlowModeS: 1, Links: true, GuestChat: true}, "seller")
		if err != nil || st.SlowModeS != 1 {
			t.Fatal(st, err)
		}
		var got chat.Settings
		e.lastEvent(t, "slow", "room.settings", &got)
		if got != st {
			t.Fatalf("room.settings %+v", got)
		}
		mustSend(t, e, "slow", user("a"), "first")
		seq := e.seq(t, "slow")
		if _, err := e.svc.Send(ctx, "slow", user("a"), "second"); !errors.Is(err, chat.ErrSlowMode) || chat.Code(err) != "slow_mode" {
			t.Fatalf("slow mode: %v", err)
		}
		if e.seq(t, "slow") != seq {
			t.Fatal("refusal emitted")
		}
		mustSend(t, e, "slow", user("b"), "b has its own slot")
		for _, s := range []chat.Sender{{Subject: "m", Name: "M", Moderator: true}, {Subject: "s", Name: "S", Role: "seller"}} {
			mustSend(t, e, "slow", s, "exempt 1")
			mustSend(t, e, "slow", s, "exempt 2")
		}
		e.advance(time.Second)
		mustSend(t, e, "slow", user("a"), "a after the slow-mode wait")
		if _, err := e.svc.SetSettings(ctx, "slow", chat.Settings{Links: true, GuestChat: true}, "seller"); err != nil {
			t.Fatal(err)
		}
		mustSend(t, e, "slow", user("a"), "slow mode off")
	})
}

func TestLinksOff(t *testing.T) {
	backends(t, chat.Params{Rate: 100}, func(t *testing.T, e *env) {
		ctx := context.Background()
		mustSend(t, e, "ln", user("a"), "links allowed: https://example.com")
		if _, err := e.svc.SetSettings(ctx, "ln", chat.Settings{Links: false, GuestChat: true}, "seller"); err != nil {
			t.Fatal(err)
		}
		seq := e.seq(t, "ln")
		for _, text := range []string{"see https://x.example", "http://a", "www.spam", "buy at cheap.example/now", "cheap.shop"} {
			if _, err := e.svc.Send(ctx, "ln", user("a"), text); !errors.Is(err, chat.ErrLinks) || chat.Code(err) != "links_off" {
				t.Fatalf("%q: %v", text, err)
			}
		}
		if e.seq(t, "ln") != seq {
			t.Fatal("refused links emitted")
		}
		mustSend(t, e, "ln", user("a"), "no link here, 3.50 each")
		mustSend(t, e, "ln", chat.Sender{Subject: "m", Name: "M", Moderator: true}, "official: https://shop.example/lot/1")
	})
}

func TestBanTimeoutUnban(t *testing.T) {
	backends(t, chat.Params{Rate: 100}, func(t *testing.T, e *env) {
		ctx := context.Background()
		mustSend(t, e, "mod", user("x"), "before")
		if err := e.svc.Ban(ctx, "mod", "x", "seller"); err != nil {
			t.Fatal(err)
		}
		var b struct{ Subject, By string }
		e.lastEvent(t, "mod", "user.ban", &b)
		if b.Subject != "x" || b.By != "seller" {
			t.Fatalf("user.ban %+v", b)
		}
		seq := e.seq(t, "mod")
		if _, err := e.svc.Send(ctx, "mod", user("x"), "banned?"); !errors.Is(err, chat.ErrBanned) || chat.Code(err) != "banned" {
			t.Fatalf("banned send: %v", err)
		}
		if err := e.svc.Ban(ctx, "mod", "x", "seller"); err != nil || e.seq(t, "mod") != seq {
			t.Fatalf("second ban: %v, or it emitted", err)
		}
		if banned, _, _ := e.svc.Restriction(ctx, "mod", "x"); !banned {
			t.Fatal("restriction: not banned")
		}
		mustSend(t, e, "mod", user("y"), "others still chat")
		if err := e.svc.Unban(ctx, "mod", "x", "seller"); err != nil {
			t.Fatal(err)
		}
		e.lastEvent(t, "mod", "user.unban", &b)
		if b.Subject != "x" {
			t.Fatalf("user.unban %+v", b)
		}
		mustSend(t, e, "mod", user("x"), "back")
		seq = e.seq(t, "mod")
		if err := e.svc.Unban(ctx, "mod", "nobody", "seller"); err != nil || e.seq(t, "mod") != seq {
			t.Fatalf("unban of nobody: %v, or it emitted", err)
		}

		// Time-out: refused until it ends (Redis TIME), then allowed.
		if err := e.svc.Timeout(ctx, "mod", "x", time.Second, "seller"); err != nil {
			t.Fatal(err)
		}
		var to struct {
			Subject string `json:"subject"`
			Until   int64  `json:"until"`
			By      string `json:"by"`
		}
		ev := e.lastEvent(t, "mod", "user.timeout", &to)
		if to.Subject != "x" || to.By != "seller" || to.Until < ev.At+995 || to.Until > ev.At+1005 {
			t.Fatalf("user.timeout %+v at %d", to, ev.At)
		}
		if _, err := e.svc.Send(ctx, "mod", user("x"), "muted?"); !errors.Is(err, chat.ErrTimedOut) {
			t.Fatalf("timed-out send: %v", err)
		}
		e.advance(time.Second + 50*time.Millisecond)
		mustSend(t, e, "mod", user("x"), "time-out over")
		if _, until, _ := e.svc.Restriction(ctx, "mod", "x"); until != 0 {
			t.Fatalf("restriction after the time-out: until %d", until)
		}
		// Unban also lifts a time-out.
		if err := e.svc.Timeout(ctx, "mod", "x", time.Hour, "seller"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Unban(ctx, "mod", "x", "seller"); err != nil {
			t.Fatal(err)
		}
		mustSend(t, e, "mod", user("x"), "lifted")

		seq = e.seq(t, "mod")
		for _, d := range []time.Duration{0, -time.Second, 500 * time.Millisecond, 8 * 24 * time.Hour} {
			if err := e.svc.Timeout(ctx, "mod", "x", d, "seller"); !errors.Is(err, chat.ErrInvalid) {
				t.Fatalf("timeout %s: %v", d, err)
			}
		}
		if err := e.svc.Ban(ctx, "mod", "", "seller"); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("ban of empty subject: %v", err)
		}
		if err := e.svc.Ban(ctx, "mod", "x", ""); !errors.Is(err, chat.ErrInvalid) {
			t.Fatalf("ban by nobody: %v", err)
		}
		if e.seq(t, "mod") != seq {
			t.Fatal("refused moderation emitted")
		}
	})
}

func TestGuestChatAndSettings(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		st, err := e.svc.Settings(ctx, "g")
		if err != nil || st != chat.DefaultSettings() || st != (chat.Settings{SlowModeS: 0, Links: true, GuestChat: true}) {
			t.Fatalf("default settings %+v %v", st, err)
		}
		guest := chat.Sender{Subject: "guest:abc", Name: "Gina", Guest: true}
		mustSend(t, e, "g", guest, "guests chat by default")
		want := chat.Settings{SlowModeS: 30, Links: false, GuestChat: false}
		if got, err := e.svc.SetSettings(ctx, "g", want, "seller"); err != nil || got != want {
			t.Fatal(got, err)
		}
		if got, _ := e.svc.Settings(ctx, "g"); got != want {
			t.Fatalf("settings %+v", got)
		}
		seq := e.seq(t, "g")
		if _, err := e.svc.Send(ctx, "g", guest, "still?"); !errors.Is(err, chat.ErrGuestsOff) || chat.Code(err) != "guests_off" {
			t.Fatalf("guest with guest_chat off: %v", err)
		}
		for _, bad := range []chat.Settings{{SlowModeS: -1}, {SlowModeS: 601}} {
			if _, err := e.svc.SetSettings(ctx, "g", bad, "seller"); !errors.Is(err, chat.ErrInvalid) {
				t.Fatalf("settings %+v: %v", bad, err)
			}
		}
		if e.seq(t, "g") != seq {
			t.Fatal("refusals emitted")
		}
		if got, _ := e.svc.Settings(ctx, "g"); got != want {
			t.Fatalf("refused settings changed them: %+v", got)
		}
		mustSend(t, e, "g", user("member"), "members still chat")
		if st, _ := e.svc.Settings(ctx, "other"); st != chat.DefaultSettings() {
			t.Fatalf("settings leak to another room: %+v", st)
		}
	})
}
