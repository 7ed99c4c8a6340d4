package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/relaycast/relaycast/auth"
)

// scaleVideo makes the broadcast page's encoder send its one video encoding scaled down by f
// (1 = the capture's size): the publisher changes resolution mid-broadcast, as a phone rotating
// or a seller switching cameras does, with a keyframe of the new size.
func scaleVideo(f int) string {
	return fmt.Sprintf(`(async () => {
  const s = window.relaycast.pc.getSenders().find(s => s.track && s.track.kind === "video");
  const p = s.getParameters();
  p.encodings[0].scaleResolutionDownBy = %d;
  await s.setParameters(p);
  return "ok";
})()`, f)
}

// A publisher that changes resolution mid-broadcast: the viewer already watching follows it
// (its decoded width changes and it keeps decoding), and a viewer joining after the change gets
// the new size at once.
func TestPublisherResolutionChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	tok, err := srv.Signer().Issue("res", []auth.Grant{auth.GrantPublish}, time.Hour, "e2e-seller")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	pubTab := tab(t, ctx)
	if err := chromedp.Do(pubTab, chromedp.Navigate(fmt.Sprintf("%s/broadcast/res?token=%s&autostart=1&simulcast=0", srv.URL(), tok))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pubTab, 20*time.Second, `window.relaycast && window.relaycast.state === "live"`, "the broadcast page to go live")

	watch := func() (width, decoded func() int) {
		tb := tab(t, ctx)
		if err := chromedp.Do(tb, chromedp.Navigate(srv.URL()+"/watch/res")); err != nil {
			t.Fatal(err)
		}
		waitJS(t, tb, 30*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 30`, "30 decoded frames")
		return func() int { return evalJS[int](t, tb, `document.querySelector("video").videoWidth`) },
			func() int { return evalJS[int](t, tb, `window.relaycast.framesDecoded()`) }
	}
	width, decoded := watch()
	// The capture's width; the encoder may send less while its bandwidth estimate grows, so the
	// checks below compare with capture/4 rather than with an exact size.
	capture := evalJS[int](t, pubTab, `window.relaycast.pc.getSenders().find(s => s.track && s.track.kind === "video").track.getSettings().width`)
	if capture < 640 {
		t.Fatalf("the capture is %d px wide; want at least 640 to see a change", capture)
	}
	small := capture / 4
	t.Logf("capture %d px; the viewer shows %d px", capture, settledWidth(width))
	for _, f := range []int{4, 1} {
		if _, err := chromedp.Run(pubTab, chromedp.Evaluate[string](scaleVideo(f), awaitPromise)); err != nil {
			t.Fatal(err)
		}
		ok := func(w int) bool { return w > 0 && (w <= small) == (f == 4) }
		var w int
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if w = width(); ok(w) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scaled by 1/%d: the watching viewer shows %d px (capture %d)", f, w, capture)
			}
		}
		before := decoded()
		deadline := time.Now().Add(10 * time.Second)
		for decoded() < before+30 {
			if time.Now().After(deadline) {
				t.Fatalf("scaled by 1/%d: the viewer stopped decoding at %d frames", f, decoded())
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("publisher scaled by 1/%d: the watching viewer follows, %d px, still decoding", f, w)
		if f == 4 {
			// A viewer joining after the change gets the new size.
			w2, _ := watch()
			if got := settledWidth(w2); !ok(got) {
				t.Errorf("a viewer joining after the change shows %d px, want at most %d", got, small)
			}
		}
	}
}
