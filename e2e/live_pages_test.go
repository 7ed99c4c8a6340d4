package e2e_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

// The live room's pages in Chromium against a real server: the seller's console (the studio page
// and the broadcast page's panel), the watch page's lot card, chat and moderation, and the phone
// layout. The page hooks used here (window.relaycast.live) only read state; every action is a
// real click on the page.

// liveToken mints a one-hour token for room whose subject is also its display name.
func liveToken(t *testing.T, srv *server.Server, room, name string, grants ...auth.Grant) string {
	t.Helper()
	tok, err := srv.Signer().IssueClaims(auth.Claims{Room: room, Grants: grants, Subject: name, Name: name}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// skewClock makes the tab's Date.now() run off by d (its scripts load after this), as on a phone
// whose clock is wrong: the countdown must still agree with the server's.
func skewClock(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	src := fmt.Sprintf(`(() => { const real = Date.now.bind(Date); Date.now = () => real() + %d; })();`, d.Milliseconds())
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// lotForm is what queueLot types into the console's "Add a lot" form ("" / 0: leave the field).
type lotForm struct {
	title, price               string
	duration, window, extendTo int
	mode, increments           string
}

// queueLot fills the console's "Add a lot" form and submits it, then waits for the lot in the queue.
func queueLot(t *testing.T, ctx context.Context, title, price string, durationS, windowS, toS int) {
	t.Helper()
	queue(t, ctx, lotForm{title: title, price: price, duration: durationS, window: windowS, extendTo: toS})
}

func queue(t *testing.T, ctx context.Context, f lotForm) {
	t.Helper()
	setValue(t, ctx, `.studio-form input[name="title"]`, f.title)
	setValue(t, ctx, `.studio-form input[name="start_price"]`, f.price)
	setValue(t, ctx, `.studio-form input[name="duration_s"]`, fmt.Sprint(f.duration))
	evalJS[bool](t, ctx, `document.querySelector(".studio-advanced").open = true`)
	if f.window > 0 {
		setValue(t, ctx, `.studio-form input[name="extend_window_s"]`, fmt.Sprint(f.window))
	}
	if f.extendTo > 0 {
		setValue(t, ctx, `.studio-form input[name="extend_to_s"]`, fmt.Sprint(f.extendTo))
	}
	setValue(t, ctx, `.studio-form textarea[name="increments"]`, f.increments)
	mode := f.mode
	if mode == "" {
		mode = "standard"
	}
	setValue(t, ctx, `.studio-form select[name="mode"]`, mode)
	realClick(t, ctx, `.studio-form button[type="submit"]`)
	queued := `[...document.querySelectorAll(".studio-lots .studio-lot-title")].some(e => e.textContent === ` + jsString(f.title) + `)`
	refused := `!document.querySelector(".studio-message").hidden && !document.querySelector(".studio-message").classList.contains("studio-ok")`
	waitJS(t, ctx, 10*time.Second, queued+` || `+refused, "the lot in the queue")
	if !evalJS[bool](t, ctx, queued) {
		t.Fatalf("the console refused the lot: %s", evalJS[string](t, ctx, `document.querySelector(".studio-message").textContent`))
	}
}

// ownTab opens a tab in a browser context of its own (its own localStorage): another person.
func ownTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return tctx
}

// msgTool marks the moderation button (action) of the chat message with this text and returns
// a selector for it, for realClick.
func msgTool(t *testing.T, ctx context.Context, text, action string) string {
	t.Helper()
	ok := evalJS[bool](t, ctx, `(() => {
	  document.querySelectorAll('[data-test="target"]').forEach(e => delete e.dataset.test);
	  const li = [...document.querySelectorAll(".chat-msg")].find(li => li.querySelector(".chat-text").textContent === `+jsString(text)+`);
	  const b = li && li.querySelector('button[data-action="`+action+`"]');
	  if (b) b.dataset.test = "target";
	  return !!b;
	})()`)
	if !ok {
		t.Fatalf("no %s button on the message %q", action, text)
	}
	return `button[data-test="target"]`
}

// joinPage opens url in tab and waits until its page has joined the live room and cond (a JS
// expression; "" for none) holds.
func joinPage(t *testing.T, tab context.Context, url, cond, what string) {
	t.Helper()
	navigate(t, tab, url)
	js := `window.relaycast.live.joined`
	if cond != "" {
		js += ` && ` + cond
	}
	waitJS(t, tab, 15*time.Second, js, what)
}

// sendChat writes text in the page's chat box and sends it.
func sendChat(t *testing.T, tab context.Context, text string) {
	t.Helper()
	setValue(t, tab, ".chat-input", text)
	realClick(t, tab, ".chat-send")
}

// lotJS reads one field of the page's current lot.
func lotJS[T any](t *testing.T, ctx context.Context, field string) T {
	t.Helper()
	return evalJS[T](t, ctx, `window.relaycast.live.lot.`+field)
}

// TestLiveAuctionPages: the seller queues a lot on the studio page and starts it with one click;
// viewers whose clocks are 5 s fast and 5 s slow see its card with a countdown that agrees with
// the server's; Alice bids with one tap and the seller's console shows the bid as it arrives, the
// countdown extends (anti-sniping); Bob bids too low (told the valid amount), then outbids her
// (she is told); her max bid answers; when the lot ends every screen — the winner's, the outbid
// bidder's, a guest's, the seller's — shows the winner banner.
func TestLiveAuctionPages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	const room = "auction"
	seller := liveToken(t, srv, room, "Sam's shop", auth.GrantPublish)
	alice := liveToken(t, srv, room, "Alice", auth.GrantSubscribe, auth.GrantBid, auth.GrantChat)
	ctx := browser(t)

	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+seller, `window.relaycast.live.you.subject === "Sam's shop"`, "the studio to join the room")

	viewer := tab(t, ctx)
	skewClock(t, viewer, 5*time.Second)
	joinPage(t, viewer, srv.URL()+"/watch/"+room+"?token="+alice, `window.relaycast.live.you.name === "Alice"`, "the viewer to join as Alice")
	// The token left the address bar and is kept for the room.
	if s := evalJS[string](t, viewer, `location.href`); strings.Contains(s, "token") {
		t.Errorf("the token is still in the address bar: %s", s)
	}
	if got := evalJS[string](t, viewer, `localStorage.getItem("relaycast:token:`+room+`") || ""`); got != alice {
		t.Error("the token was not kept for the room")
	}
	guest := ownTab(t, ctx)
	joinPage(t, guest, srv.URL()+"/watch/"+room, `window.relaycast.live.you.guest`, "a guest to join")
	bob := ownTab(t, ctx)
	skewClock(t, bob, -5*time.Second)
	joinPage(t, bob, srv.URL()+"/watch/"+room+"?token="+liveToken(t, srv, room, "Bob", auth.GrantBid), `window.relaycast.live.you.name === "Bob"`, "Bob to join")

	// Queue: the lot is short, and its anti-sniping window covers all of it, so a bid extends it.
	queueLot(t, studio, "Vintage lamp", "10.00", 5, 30, 8)
	realClick(t, studio, ".studio-start-next")
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.lot && window.relaycast.live.lot.status === "open"`, "the viewer to see the lot open")

	// The card: title, price, and a countdown by the server's clock despite the 5 s skew.
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-title").textContent === "Vintage lamp" && document.querySelector(".lot-price").textContent === "$10.00"`, "the lot card")
	endsAt := lotJS[float64](t, viewer, "ends_at")
	for name, c := range map[string]context.Context{"Alice (+5 s)": viewer, "Bob (-5 s)": bob} {
		left := evalJS[float64](t, c, `window.relaycast.live.remaining()`)
		want := endsAt - float64(time.Now().UnixMilli())
		if math.Abs(left-want) > 700 {
			t.Errorf("%s: countdown %.0f ms left, the server's clock says %.0f ms (offset %.0f)", name, left, want, evalJS[float64](t, c, `window.relaycast.live.offset`))
		}
	}
	if txt := evalJS[string](t, viewer, `document.querySelector(".lot-timer").textContent`); !strings.HasPrefix(txt, "0:0") {
		t.Errorf("countdown shows %q", txt)
	}
	// Guests may not bid: they are told how to.
	waitJS(t, guest, 5*time.Second, `!document.querySelector(".lot-signin").hidden && document.querySelector(".lot-actions").hidden`, "the guest's sign-in note instead of the bid button")

	// One tap.
	if txt := evalJS[string](t, viewer, `document.getElementById("bid-button").textContent`); txt != "Bid $10.00" {
		t.Errorf("bid button says %q", txt)
	}
	realClick(t, viewer, "#bid-button")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("highest bidder")`, "the viewer to be told they lead")
	// The seller sees it arrive, and the countdown went back up (anti-sniping).
	waitJS(t, studio, 5*time.Second, `[...document.querySelectorAll(".studio-bid")].some(e => e.textContent.includes("Alice") && e.textContent.includes("$10.00"))`, "the bid on the seller's console")
	waitJS(t, viewer, 5*time.Second, fmt.Sprintf(`window.relaycast.live.lot.ends_at > %f && window.relaycast.live.lot.extensions >= 1`, endsAt), "the countdown to extend")
	if !evalJS[bool](t, viewer, `!document.querySelector(".lot-extended").hidden`) {
		t.Error("the card does not say the time was extended")
	}
	if a, b := lotJS[float64](t, viewer, "ends_at"), evalJS[float64](t, studio, `window.relaycast.live.lot.ends_at`); a != b {
		t.Errorf("the viewer's lot ends at %.0f, the seller's at %.0f", a, b)
	}
	if evalJS[float64](t, studio, `window.relaycast.live.lot.bid_count`) != 1 || !strings.Contains(evalJS[string](t, studio, `document.querySelector(".studio-current .lot-leader").textContent`), "Alice") {
		t.Error("the console does not show Alice leading with one bid")
	}
	// Bob (his clock 5 s slow) bids too low from the custom field: refused with the valid amount.
	realClick(t, bob, ".lot-more")
	setValue(t, bob, ".lot-amount", "10.00")
	realClick(t, bob, ".lot-bid-custom")
	waitJS(t, bob, 5*time.Second, `/Too low: the next valid bid is \$1\d\.\d\d\./.test(document.querySelector(".lot-feedback").textContent)`, "Bob's refusal in words")
	next := evalJS[string](t, bob, `document.getElementById("bid-button").textContent`)
	if !strings.Contains(evalJS[string](t, bob, `document.querySelector(".lot-feedback").textContent`), strings.TrimPrefix(next, "Bid ")) {
		t.Errorf("the refusal names another amount than the button (%q)", next)
	}
	// Bob takes the lead with one tap; Alice is told she was outbid.
	realClick(t, bob, "#bid-button")
	waitJS(t, bob, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("highest bidder")`, "Bob to lead")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("You were outbid") && document.querySelector(".lot-leader").textContent === "Bob leads"`, "Alice to be told she was outbid")
	// Alice answers with a max bid: the engine bids for her, one step over Bob.
	realClick(t, viewer, ".lot-more")
	setValue(t, viewer, ".lot-amount", "20.00")
	realClick(t, viewer, ".lot-bid-max")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("Your max bid of $20.00 is set: you lead")`, "Alice's max bid to lead")
	waitJS(t, studio, 5*time.Second, `document.querySelectorAll(".studio-bid").length === 3 && document.querySelector(".studio-bid").textContent.includes("Alice")`, "the console to list the three bids, newest first")
	if txt := evalJS[string](t, studio, `document.querySelector(".studio-bid").textContent`); strings.Contains(txt, "20.00") {
		t.Errorf("the console shows Alice's maximum: %q", txt)
	}
	price := evalJS[string](t, viewer, `document.querySelector(".lot-price").textContent`)

	// The end: every screen shows the winner.
	waitJS(t, viewer, 30*time.Second, `window.relaycast.live.lot.status === "sold"`, "the lot to be sold")
	for name, c := range map[string]context.Context{"winner": viewer, "outbid bidder": bob, "guest": guest, "seller": studio} {
		waitJS(t, c, 5*time.Second, `[...document.querySelectorAll(".lot-banner")].some(b => !b.hidden && b.textContent.includes(`+jsString(price)+`))`, "the winner banner on the "+name+"'s screen")
	}
	if txt := evalJS[string](t, viewer, `document.querySelector(".lot-banner:not([hidden])").textContent`); !strings.Contains(txt, "You won") {
		t.Errorf("the winner's banner says %q", txt)
	}
	for name, c := range map[string]context.Context{"outbid bidder": bob, "guest": guest, "seller": studio} {
		if txt := evalJS[string](t, c, `document.querySelector(".lot-banner:not([hidden])").textContent`); !strings.Contains(txt, "Sold to Alice") {
			t.Errorf("the %s's banner says %q", name, txt)
		}
	}
	if w := evalJS[string](t, studio, `window.relaycast.live.lot.winner`); w != "Alice" {
		t.Errorf("winner %q", w)
	}
	// Someone who comes after the sale (joined.last_lot) sees the same result, without its entrance.
	late := ownTab(t, ctx)
	joinPage(t, late, srv.URL()+"/watch/"+room, `[...document.querySelectorAll(".lot-banner")].some(b => !b.hidden && b.dataset.late === "1" && b.style.animationName === "none" && b.textContent.includes("Sold to Alice") && b.textContent.includes(`+jsString(price)+`))`, "the winner banner, still, for a late guest")
	if txt := evalJS[string](t, late, `document.querySelector(".lot-feedback").textContent`); !strings.Contains(txt, "sold for "+price) {
		t.Errorf("the late guest's lot card says %q", txt)
	}
	screenshots(t, studio, "live-studio")
}

// TestLiveChatModeration: a guest picks a name and chats; a viewer's message with HTML in it is
// shown as text on every screen; the seller deletes it and it vanishes from the viewers' screens;
// the seller times the guest out and the guest is told so in words.
func TestLiveChatModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	const room = "chatroom"
	seller := liveToken(t, srv, room, "Sam", auth.GrantPublish)
	alice := liveToken(t, srv, room, "Alice", auth.GrantSubscribe) // guest chat is on: any token holder may chat
	ctx := browser(t)

	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+seller, "", "the studio to join")
	viewer := tab(t, ctx)
	joinPage(t, viewer, srv.URL()+"/watch/"+room+"?token="+alice, "", "the viewer to join")
	guest := ownTab(t, ctx)
	joinPage(t, guest, srv.URL()+"/watch/"+room, "", "the guest to join")

	// The guest must pick a name before writing.
	if evalJS[bool](t, guest, `!document.querySelector(".chat-form:not(.chat-name-form)").hidden`) {
		t.Error("a guest without a name can write")
	}
	// A name the server refuses (a control character) is asked for again, in words.
	evalJS[bool](t, guest, `(document.querySelector(".chat-name-form input").value = "Bo\u0007", true)`)
	realClick(t, guest, ".chat-join")
	waitJS(t, guest, 10*time.Second, `document.querySelector(".chat-error").textContent.includes("That name can't be used") && !document.querySelector(".chat-name-form").hidden && window.relaycast.live.joined`, "the refused name asked for again")
	setValue(t, guest, ".chat-name-form input", "Bo")
	realClick(t, guest, ".chat-join")
	waitJS(t, guest, 10*time.Second, `window.relaycast.live.you.name === "Bo" && !document.querySelector(".chat-input").closest("form").hidden`, "the guest's chat box")
	sendChat(t, guest, "hi from Bo")
	waitJS(t, studio, 10*time.Second, `window.relaycast.live.messages.some(m => m.name === "Bo" && m.text === "hi from Bo")`, "the guest's message on the seller's screen")

	// HTML is text.
	const evil = `<b>bold</b> <img src=x onerror="window.pwned=1">`
	sendChat(t, viewer, evil)
	for name, c := range map[string]context.Context{"seller": studio, "viewer": viewer, "guest": guest} {
		waitJS(t, c, 10*time.Second, `window.relaycast.live.messages.some(m => m.name === "Alice" && m.text === `+jsString(evil)+`)`, "Alice's message as text on the "+name+"'s screen")
		if evalJS[bool](t, c, `!!document.querySelector(".chat-list b, .chat-list img") || !!window.pwned`) {
			t.Errorf("the %s's page rendered the message as HTML", name)
		}
	}
	// Resume: a reload shows the history once, to the same guest (the guest key kept by the browser).
	guestSubject := evalJS[string](t, guest, `window.relaycast.live.you.subject`)
	joinPage(t, guest, srv.URL()+"/watch/"+room, `window.relaycast.live.messages.length === 2`, "the guest's history after a reload")
	if s := evalJS[string](t, guest, `window.relaycast.live.you.subject`); s != guestSubject {
		t.Errorf("the guest is %q after a reload, %q before", s, guestSubject)
	}

	// The seller deletes Alice's message: it vanishes everywhere.
	sel := `.chat-msg[data-subject="Alice"] button[data-action="delete"]`
	waitJS(t, studio, 5*time.Second, `!!document.querySelector(`+jsString(sel)+`)`, "the delete button on Alice's message")
	if evalJS[bool](t, viewer, `!!document.querySelector('button[data-action="delete"]')`) {
		t.Error("a viewer without the moderate grant sees moderation buttons")
	}
	realClick(t, studio, sel)
	for name, c := range map[string]context.Context{"viewer": viewer, "guest": guest, "seller": studio} {
		waitJS(t, c, 10*time.Second, `!window.relaycast.live.messages.some(m => m.name === "Alice") && !document.querySelector('.chat-msg[data-subject="Alice"]')`, "the deleted message to vanish from the "+name+"'s screen")
	}
	screenshots(t, studio, "live-studio-chat")

	// The seller times the guest out (from a message they wrote since the reload): the guest is
	// told, and what they send is refused in words.
	sendChat(t, guest, "back again")
	waitJS(t, studio, 10*time.Second, `window.relaycast.live.messages.some(m => m.text === "back again")`, "the guest's new message on the console")
	realClick(t, studio, msgTool(t, studio, "back again", "timeout"))
	waitJS(t, guest, 10*time.Second, `document.querySelector(".chat-error").textContent.includes("paused your chat")`, "the guest to be told of the time-out")
	sendChat(t, guest, "still here?")
	waitJS(t, guest, 10*time.Second, `!document.querySelector(".chat-error").hidden && document.querySelector(".chat-error").textContent.includes("paused your chat")`, "the refusal in words")
	time.Sleep(500 * time.Millisecond)
	if evalJS[bool](t, studio, `window.relaycast.live.messages.some(m => m.text === "still here?")`) {
		t.Error("a timed-out guest's message reached the room")
	}
	// Slow mode: everyone sees it; a second message inside the interval is refused in words.
	setValue(t, studio, ".chat-slow", "10")
	evalJS[bool](t, studio, `document.querySelector(".chat-slow").dispatchEvent(new Event("change"))`)
	waitJS(t, viewer, 10*time.Second, `document.querySelector(".chat-mode").textContent.includes("Slow mode: one message every 10 s")`, "the viewer to see slow mode")
	cy := ownTab(t, ctx) // someone who has not written yet
	joinPage(t, cy, srv.URL()+"/watch/"+room+"?token="+liveToken(t, srv, room, "Cy", auth.GrantChat), `document.querySelector(".chat-mode").textContent.includes("Slow mode")`, "Cy to join in slow mode")
	sendChat(t, cy, "first")
	waitJS(t, cy, 5*time.Second, `window.relaycast.live.messages.some(m => m.text === "first")`, "the first message in slow mode")
	sendChat(t, cy, "second")
	waitJS(t, cy, 5*time.Second, `document.querySelector(".chat-error").textContent === "Slow mode is on: one message every 10 seconds."`, "the slow-mode refusal in words")
	if v := evalJS[string](t, cy, `document.querySelector(".chat-input").value`); v != "second" {
		t.Errorf("the refused message is not kept for a retry: the box holds %q", v)
	}
	// Hearts: a tap on one screen floats on the others (aggregated by the server).
	realClick(t, viewer, ".react-heart")
	realClick(t, viewer, ".react-heart")
	waitJS(t, guest, 5*time.Second, `window.relaycast.live.hearts >= 2 && !!document.querySelector(".react-float")`, "the hearts on the guest's screen")
	// Links off (slow mode off again): a link is refused in words.
	setValue(t, studio, ".chat-slow", "0")
	evalJS[bool](t, studio, `document.querySelector(".chat-slow").dispatchEvent(new Event("change"))`)
	waitJS(t, viewer, 10*time.Second, `document.querySelector(".chat-mode").hidden`, "slow mode off on the viewer's page")
	realClick(t, studio, ".chat-links")
	waitJS(t, viewer, 10*time.Second, `document.querySelector(".chat-mode").textContent === "links off"`, "the viewer to see links off")
	sendChat(t, viewer, "see shop.example.com")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".chat-error").textContent === "Links are not allowed in this chat."`, "the links-off refusal in words")
	// Ban: the banned viewer's chat box goes, with a sentence.
	realClick(t, studio, msgTool(t, studio, "first", "ban"))
	waitJS(t, cy, 10*time.Second, `document.querySelector(".chat-input").closest("form").hidden && document.querySelector(".chat-error").textContent === "A moderator removed you from this chat."`, "the banned viewer to be told")
	// Guest chat off: the guest's box goes, with a sentence.
	realClick(t, studio, ".chat-guests")
	waitJS(t, guest, 10*time.Second, `document.querySelector(".chat-input").closest("form").hidden && document.querySelector(".chat-note").textContent.includes("Guests can't chat")`, "the guest to be told guests can't chat")
}

// TestLiveSignInToBid: on a server with OpenID Connect sign-in, a guest's lot card offers
// "Sign in to bid"; the provider's answer comes back as #token= on the watch page, which keeps
// the token for the room, clears it from the address bar, joins with it, and the viewer bids.
func TestLiveSignInToBid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })
	srv := testserver.Start(t, func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = op.Issuer(), op.ClientID, op.ClientSecret
	})
	const room = "signin"
	ctx := browser(t)
	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+liveToken(t, srv, room, "Sam", auth.GrantPublish), "", "the studio to join")
	queueLot(t, studio, "Clock", "5", 120, 10, 10)
	realClick(t, studio, ".studio-start-next")

	viewer := ownTab(t, ctx)
	joinPage(t, viewer, srv.URL()+"/watch/"+room, `window.relaycast.live.you.guest && window.relaycast.live.lot && window.relaycast.live.lot.status === "open"`, "the guest to see the lot")
	waitJS(t, viewer, 5*time.Second, `(() => { const a = document.querySelector(".lot-signin-link"); return !!a && a.offsetParent !== null && a.textContent === "Sign in to bid"; })()`, "the Sign in to bid link")
	if href := evalJS[string](t, viewer, `document.querySelector(".lot-signin-link").getAttribute("href")`); href != "/auth/login?room="+room+"&return=%2Fwatch%2F"+room {
		t.Errorf("sign-in link %q", href)
	}
	realClick(t, viewer, ".lot-signin-link")
	waitJS(t, viewer, 20*time.Second, `location.pathname === "/watch/`+room+`" && !!window.relaycast && window.relaycast.live.joined && !window.relaycast.live.you.guest`, "the viewer back from the sign-in, joined with the token")
	if h := evalJS[string](t, viewer, `location.href`); strings.Contains(h, "token") {
		t.Errorf("the token is still in the address bar: %s", h)
	}
	if !evalJS[bool](t, viewer, `(localStorage.getItem("relaycast:token:`+room+`") || "").split(".").length === 3`) {
		t.Error("the sign-in's token was not kept for the room")
	}
	waitJS(t, viewer, 5*time.Second, `!document.querySelector(".lot-actions").hidden`, "the bid button for the signed-in viewer")
	realClick(t, viewer, "#bid-button")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("highest bidder")`, "the signed-in viewer's bid to lead")
	waitJS(t, studio, 5*time.Second, `window.relaycast.live.lot.bid_count === 1`, "the bid on the console")
}

// TestLiveConsoleControls: the rest of the seller's console, each seen on a viewer's page: a
// pinned product (price, stock, buy link) and unpinning it; a sudden-death lot with its own
// increment table (a bid does not extend it; the next amount follows the table) ended early
// with End now, Cancel offered only before the first bid; a lot cancelled before any bid.
func TestLiveConsoleControls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	const room = "console"
	ctx := browser(t)
	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+liveToken(t, srv, room, "Sam", auth.GrantPublish), "", "the studio to join")
	viewer := ownTab(t, ctx)
	joinPage(t, viewer, srv.URL()+"/watch/"+room+"?token="+liveToken(t, srv, room, "Alice", auth.GrantBid), "", "the viewer to join")

	// Pin a product.
	setValue(t, studio, `.studio-product-form input[name="title"]`, "Tote bag")
	setValue(t, studio, `.studio-product-form input[name="price"]`, "15")
	setValue(t, studio, `.studio-product-form input[name="stock"]`, "3")
	setValue(t, studio, `.studio-product-form input[name="url"]`, "https://shop.example/tote")
	realClick(t, studio, `.studio-product-form button[type="submit"]`)
	waitJS(t, viewer, 10*time.Second, `!document.querySelector(".product").hidden && document.querySelector(".product-title").textContent === "Tote bag"`, "the pinned product on the viewer's page")
	if got := evalJS[string](t, viewer, `document.querySelector(".product-meta").textContent + " | " + document.querySelector(".product-buy").href`); got != "$15.00 · 3 left | https://shop.example/tote" {
		t.Errorf("the product card says %q", got)
	}
	waitJS(t, studio, 5*time.Second, `!document.querySelector('.studio-product-form button[data-action="unpin"]').hidden`, "Unpin on the console")
	realClick(t, studio, `.studio-product-form button[data-action="unpin"]`)
	waitJS(t, viewer, 10*time.Second, `document.querySelector(".product").hidden`, "the product to go when unpinned")

	// Sudden death, own increments: $12 start, +$1 below $10, +$5 from there.
	queue(t, studio, lotForm{title: "Poster", price: "12", duration: 60, mode: "sudden_death", increments: "10: 1\n*: 5"})
	realClick(t, studio, ".studio-start-next")
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.lot && window.relaycast.live.lot.status === "open" && window.relaycast.live.lot.title === "Poster"`, "the viewer to see the poster")
	waitJS(t, studio, 5*time.Second, `!document.querySelector('.studio-current [data-action="cancel"]').hidden`, "Cancel offered before the first bid")
	// Every control of both pages is reachable with Tab and shows a focus ring.
	tabThrough(t, studio, "studio")
	tabThrough(t, viewer, "watch")
	// Another currency: ?currency=EUR shows the same minor units in euros.
	eur := ownTab(t, ctx)
	navigate(t, eur, srv.URL()+"/watch/"+room+"?currency=EUR")
	waitJS(t, eur, 10*time.Second, `window.relaycast.live.lot && document.querySelector(".lot-price").textContent === "€12.00"`, "the price in euros")
	endsAt := lotJS[float64](t, viewer, "ends_at")
	realClick(t, viewer, "#bid-button")
	waitJS(t, viewer, 5*time.Second, `window.relaycast.live.lot.bid_count === 1 && window.relaycast.live.lot.min_amount === 1700`, "the next amount by the lot's table ($12 + $5)")
	if got := lotJS[float64](t, viewer, "ends_at"); got != endsAt {
		t.Errorf("a sudden-death lot moved its end from %.0f to %.0f", endsAt, got)
	}
	waitJS(t, studio, 5*time.Second, `document.querySelector('.studio-current [data-action="cancel"]').hidden && !document.querySelector('.studio-current [data-action="end"]').hidden`, "Cancel gone after the first bid, End now still there")
	realClick(t, studio, `.studio-current [data-action="end"]`)
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.lot.status === "sold" && [...document.querySelectorAll(".lot-banner")].some(b => !b.hidden && b.textContent.includes("You won Poster for $12.00"))`, "the lot sold early to Alice")
	waitJS(t, eur, 5*time.Second, `[...document.querySelectorAll(".lot-banner")].some(b => !b.hidden && b.textContent === "Sold to Alice for €12.00")`, "the banner in euros")

	// Cancelled before any bid.
	queueLot(t, studio, "Mug", "3", 60, 10, 10)
	realClick(t, studio, ".studio-start-next")
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.lot.title === "Mug" && window.relaycast.live.lot.status === "open" && document.querySelector(".lot-banner").hidden`, "the mug open (and the last banner gone)")
	waitJS(t, studio, 5*time.Second, `document.querySelector(".studio-current").dataset.status === "open" && document.querySelector(".studio-current .lot-title").textContent === "Mug" && !document.querySelector('.studio-current [data-action="cancel"]').hidden`, "Cancel on the console")
	realClick(t, studio, `.studio-current [data-action="cancel"]`)
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.lot.status === "cancelled" && document.querySelector(".lot-timer").textContent === "Cancelled" && document.querySelector(".lot-actions").hidden`, "the viewer to see the lot cancelled")
	waitJS(t, studio, 5*time.Second, `[...document.querySelectorAll(".studio-done .studio-lot")].map(e => e.textContent).join("|").includes("Mugcancelled")`, "the cancelled lot among the finished ones")

	// The studio with a token that may not run lots says what link it needs; its requests are refused in words.
	wrong := ownTab(t, ctx)
	joinPage(t, wrong, srv.URL()+"/studio/"+room+"?token="+liveToken(t, srv, room, "Eve", auth.GrantBid), `document.getElementById("notice").textContent.includes("may not run this room's lots")`, "the studio to ask for a publish token")
	queueLotRefused := func() string {
		setValue(t, wrong, `.studio-form input[name="title"]`, "Nope")
		realClick(t, wrong, `.studio-form button[type="submit"]`)
		waitJS(t, wrong, 10*time.Second, `!document.querySelector(".studio-message").hidden`, "the console's answer")
		return evalJS[string](t, wrong, `document.querySelector(".studio-message").textContent`)
	}
	if msg := queueLotRefused(); msg != "This link may not run lots in this room: it needs a publish token." {
		t.Errorf("a refused lot says %q", msg)
	}
}

// TestLiveChatResume: a viewer's connection drops while the room goes on (new messages, one
// deleted); when it comes back the page resumes from the last event it saw: the new messages
// appear once, in order, and the deleted one is gone — nothing missed, nothing twice.
func TestLiveChatResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	px := newTCPProxy(t, strings.TrimPrefix(srv.URL(), "http://"))
	const room = "resume"
	seller := liveToken(t, srv, room, "Sam", auth.GrantPublish)
	alice := liveToken(t, srv, room, "Alice", auth.GrantChat)
	ctx := browser(t)
	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+seller, "", "the studio to join")
	viewer := tab(t, ctx)
	joinPage(t, viewer, px.URL()+"/watch/"+room+"?token="+alice, "", "the viewer to join")
	say := func(text string) {
		t.Helper()
		sendChat(t, studio, text)
		waitJS(t, studio, 5*time.Second, `window.relaycast.live.messages.some(m => m.text === `+jsString(text)+`)`, "the seller's message "+text)
		time.Sleep(700 * time.Millisecond) // the chat's rate limit: 3 messages in 2 s
	}
	say("one")
	waitJS(t, viewer, 5*time.Second, `window.relaycast.live.messages.some(m => m.text === "one")`, "the viewer to see the first message")

	px.Down()
	waitJS(t, viewer, 15*time.Second, `document.body.innerText.includes("Lost the connection to the server")`, "the viewer to lose the connection")
	say("two")
	say("three")
	realClick(t, studio, msgTool(t, studio, "one", "delete"))
	waitJS(t, studio, 5*time.Second, `!window.relaycast.live.messages.some(m => m.text === "one")`, "the deletion on the console")
	if evalJS[bool](t, viewer, `window.relaycast.live.messages.some(m => m.text === "two")`) {
		t.Fatal("the viewer got a message through a dead connection")
	}
	px.Up()
	waitJS(t, viewer, 40*time.Second, `window.relaycast.live.joins >= 2 && window.relaycast.live.messages.some(m => m.text === "three")`, "the viewer to resume")
	if !evalJS[bool](t, viewer, `window.relaycast.live.resumed`) {
		t.Error("the second join was not a resume")
	}
	got := evalJS[[]string](t, viewer, `window.relaycast.live.messages.map(m => m.text)`)
	if strings.Join(got, "|") != "two|three" {
		t.Errorf("after the resume the viewer shows %q, want [two three]", got)
	}
	if n := evalJS[int](t, viewer, `document.querySelectorAll(".chat-msg").length`); n != 2 {
		t.Errorf("%d messages on screen, want 2", n)
	}
	// And the room goes on.
	say("four")
	waitJS(t, viewer, 5*time.Second, `window.relaycast.live.messages.map(m => m.text).join("|") === "two|three|four"`, "the next message once")
}

// TestLiveWatchPhoneLayout: at 390×844 the watch page is the phone layout — the video fills the
// screen's width, the chat lies over its lower part within the viewport, the lot card sits above
// a big bid button at the bottom, and nothing scrolls sideways. Saved as docs/screenshots/live-phone.png
// (RELAYCAST_SCREENSHOTS=…/docs/screenshots).
func TestLiveWatchPhoneLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	const room = "phone"
	seller := liveToken(t, srv, room, "Sam", auth.GrantPublish)
	alice := liveToken(t, srv, room, "Alice", auth.GrantChat, auth.GrantBid)
	ctx := browser(t)

	// The seller goes live from the broadcast page and runs the lot from its panel.
	pub := tab(t, ctx)
	navigate(t, pub, srv.URL()+"/broadcast/"+room+"?autostart=1&token="+seller)
	waitJS(t, pub, 20*time.Second, `window.relaycast.state === "live" && window.relaycast.live.joined`, "the broadcast page to go live and join")
	queueLot(t, pub, "Silk scarf", "25", 120, 10, 10)
	realClick(t, pub, ".studio-start-next")
	setValue(t, pub, ".seller-chat .chat-input", "Welcome! The scarf is up.")
	realClick(t, pub, ".seller-chat .chat-send")

	viewer := tab(t, ctx)
	if err := chromedp.Do(viewer, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	navigate(t, viewer, srv.URL()+"/watch/"+room+"?token="+alice)
	waitJS(t, viewer, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.live.lot && window.relaycast.live.lot.status === "open"`, "the phone to play with the lot open")
	for _, text := range []string{"Love it", "How long is it?", "Bidding now"} {
		sendChat(t, viewer, text)
		time.Sleep(700 * time.Millisecond) // three messages in 2 s is the rate limit
	}
	waitJS(t, viewer, 10*time.Second, `window.relaycast.live.messages.length >= 4`, "the chat on the phone")
	waitJS(t, viewer, 5*time.Second, `window.relaycast.live.messages.some(m => m.text === "Welcome! The scarf is up.")`, "the seller's message")
	time.Sleep(300 * time.Millisecond) // layout settles

	facts := evalJS[map[string]any](t, viewer, `(() => {
	  const r = (sel) => { const e = document.querySelector(sel); const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left, right: b.right, width: b.width, height: b.height}; };
	  const video = r("#video"), chat = r(".room-chat .chat-list"), lot = r(".room-lot .lot"), bid = r("#bid-button");
	  const hit = (() => { const b = document.getElementById("bid-button").getBoundingClientRect(); const e = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2); return !!e && (e.id === "bid-button" || !!e.closest("#bid-button")); })();
	  return {vw: innerWidth, vh: innerHeight, scrollW: document.documentElement.scrollWidth, video, chat, lot, bid, hit,
	    bidText: document.getElementById("bid-button").textContent};
	})()`)
	num := func(m any, k string) float64 { return m.(map[string]any)[k].(float64) }
	vw, vh := facts["vw"].(float64), facts["vh"].(float64)
	video, chat, lot, bid := facts["video"], facts["chat"], facts["lot"], facts["bid"]
	if vw != 390 {
		t.Fatalf("viewport %v px wide", vw)
	}
	if num(video, "left") > 0.5 || math.Abs(num(video, "width")-vw) > 0.5 || num(video, "height") < 0.9*vh {
		t.Errorf("the video does not fill the phone's screen: %v in %v×%v", video, vw, vh)
	}
	if h := num(bid, "height"); h < 44 {
		t.Errorf("the bid button is %.0f px tall (want >= 44)", h)
	}
	if num(bid, "bottom") > vh || num(bid, "top") < vh/2 || !facts["hit"].(bool) {
		t.Errorf("the bid button is not visible at the bottom of the screen: %v (tappable: %v)", bid, facts["hit"])
	}
	if num(chat, "top") < vh/3 || num(chat, "bottom") > vh || num(chat, "left") < 0 || num(chat, "right") > vw || num(chat, "height") < 40 {
		t.Errorf("the chat is not over the lower part of the video, inside the screen: %v", chat)
	}
	if num(chat, "bottom") > num(lot, "top")+1 || num(lot, "bottom") < num(bid, "bottom") {
		t.Errorf("want the chat above the lot card and the bid button inside it at the bottom: chat %v, lot %v, bid %v", chat, lot, bid)
	}
	if sw := facts["scrollW"].(float64); sw > vw {
		t.Errorf("the page scrolls sideways: %v px wide in a %v px viewport", sw, vw)
	}
	if !strings.HasPrefix(facts["bidText"].(string), "Bid $") {
		t.Errorf("bid button says %q", facts["bidText"])
	}

	dir := screenshotDir(t)
	if png, err := chromedp.Run(viewer, chromedp.CaptureScreenshot()); err != nil {
		t.Logf("screenshot: %v", err)
	} else if err := os.WriteFile(filepath.Join(dir, "live-phone.png"), png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	} else {
		t.Logf("screenshot %s (%d KiB)", filepath.Join(dir, "live-phone.png"), len(png)/1024)
	}

	// One tap on the phone: the bid lands, the seller's panel shows it.
	realClick(t, viewer, "#bid-button")
	waitJS(t, viewer, 5*time.Second, `document.querySelector(".lot-feedback").textContent.includes("highest bidder")`, "the phone's bid to lead")
	waitJS(t, pub, 5*time.Second, `[...document.querySelectorAll(".studio-bid")].some(e => e.textContent.includes("Alice") && e.textContent.includes("$25.00"))`, "the phone's bid on the broadcast page")
	time.Sleep(300 * time.Millisecond) // the button's colour transition
	if png, err := chromedp.Run(viewer, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "live-phone-winning.png"), png, 0o644)
	}
	// Desktop: video and side panel.
	if err := chromedp.Do(viewer, chromedp.EmulateViewport(1280, 800), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	side := evalJS[[]float64](t, viewer, `(() => { const v = document.getElementById("stage").getBoundingClientRect(), p = document.getElementById("room-panel").getBoundingClientRect(); return [v.right, p.left, p.width, p.right, document.documentElement.scrollWidth, innerWidth]; })()`)
	if side[1] < side[0] || side[2] < 200 {
		t.Errorf("desktop: the room panel is not beside the video (video right %v, panel left %v, width %v)", side[0], side[1], side[2])
	}
	if side[3] > side[5] || side[4] > side[5] {
		t.Errorf("desktop: the room panel ends at %v px, the page is %v px wide, in a %v px window", side[3], side[4], side[5])
	}
	if png, err := chromedp.Run(viewer, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "live-desktop.png"), png, 0o644)
	}
	darkScreenshot(t, viewer, "live-watch")
	screenshots(t, pub, "live-broadcast")

	// The studio page of a room that is live says so (a media-less watch on its socket).
	studio := tab(t, ctx)
	joinPage(t, studio, srv.URL()+"/studio/"+room+"?token="+seller, `document.getElementById("live-badge").textContent === "Live" && document.getElementById("studio-state").textContent.includes("Your stream is live")`, "the studio to show the stream live")
	waitJS(t, studio, 5*time.Second, `[...document.querySelectorAll(".studio-bid")].some(e => e.textContent.includes("Alice"))`, "the studio to load the open lot's bid log")
}
