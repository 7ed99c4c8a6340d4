package loadtest

import "net/url"

// Browser viewers over the live LL-HLS (docs/LLHLS.md): --browser-viewer-mode hls opens the
// watch page with ?mode=hls (hls.js in low-latency mode on /live/{room}/index.m3u8, no WebRTC),
// so glass-to-glass, first frame and the viewer counts of a --publisher browser run are those of
// the HLS path. The page's readClock reads the clock strip from the video it shows.

// Browser viewer modes.
const (
	BrowserViewerWebRTC = "webrtc"
	BrowserViewerHLS    = "hls"
)

// validBrowserViewerMode: "" is the default (webrtc).
func validBrowserViewerMode(m string) bool {
	return m == "" || m == BrowserViewerWebRTC || m == BrowserViewerHLS
}

// withViewerMode adds the watch page's mode to its URL (nothing for WebRTC).
func withViewerMode(watchURL, mode string) string {
	if mode != BrowserViewerHLS {
		return watchURL
	}
	u, err := url.Parse(watchURL)
	if err != nil {
		return watchURL
	}
	q := u.Query()
	q.Set("mode", "hls")
	u.RawQuery = q.Encode()
	return u.String()
}
