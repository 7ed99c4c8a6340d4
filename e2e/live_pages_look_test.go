package e2e_test

import (
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/internal/testserver"
)

// TestLivePagesScreenshots: the broadcast and watch pages with the shared design tokens (light
// and dark), live with the fake camera, saved as screenshots next to the archive pages'.
func TestLivePagesScreenshots(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	srv := startServer(t)
	ctx := browser(t)
	pub := tab(t, ctx)
	navigate(t, pub, srv.URL()+"/broadcast/shop?autostart=1&token="+testserver.Token(t, srv, "shop", auth.GrantPublish))
	waitJS(t, pub, 20*time.Second, `window.relaycast.state === "live"`, "the broadcast page to go live")
	watch := tab(t, ctx)
	navigate(t, watch, srv.URL()+"/watch/shop")
	waitJS(t, watch, 20*time.Second, `window.relaycast.state === "playing" && window.relaycast.framesDecoded() > 30`, "the watch page to play")
	waitJS(t, pub, 10*time.Second, `window.relaycast.viewers === 1`, "the broadcaster to see the viewer")
	screenshots(t, pub, "broadcast")
	screenshots(t, watch, "watch")
	darkScreenshot(t, watch, "watch")
}
