package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
)

// screenshotDir is where browser tests save page screenshots: $RELAYCAST_SCREENSHOTS, or a
// temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RELAYCAST_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("cannot create %s: %v; screenshots go to a temporary directory", dir, err)
		return t.TempDir()
	}
	return dir
}

// screenshot saves the whole page at a viewport width as a PNG.
func screenshot(t *testing.T, ctx context.Context, dir, name string, width int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatalf("viewport %d: %v", width, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 = PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// TestUploadPage: a seller uploads a small generated clip on /upload: the progress bar reaches
// 100 %, the status follows the transcode to "ready" with a link to the player. A file that is
// no video ends as "failed" with the server's reason on the page.
func TestUploadPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and transcodes video")
	}
	srv := testserver.Start(t, func(c *config.Config) { c.Workers, c.UploadMaxBytes, c.UploadPartSize = 1, 64<<20, 64<<10 })
	if code, err := httpGet(srv.URL() + "/upload"); err != nil || code != 200 {
		if os.Getenv("CI") != "" {
			t.Fatalf("upload page not served (status %d, %v): is the web UI built?", code, err)
		}
		t.Skipf("web UI not built (status %d): run make web", code)
	}
	dir := t.TempDir()
	clip := filepath.Join(dir, "spring-sale.mp4")
	if err := testmedia.File(testmedia.FileParams{Path: clip, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(notes, []byte(strings.Repeat("not a video\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := testserver.Token(t, srv, "e2e", auth.GrantPublish)
	ctx := tab(t, browser(t))
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/upload?token=%s&room=e2e", srv.URL(), tok)),
		chromedp.WaitVisible(chromedp.ID("upload-file"))); err != nil {
		t.Fatal(err)
	}
	// The token left the address bar; the form kept it.
	waitJS(t, ctx, 5*time.Second, `!location.search.includes("token") && document.getElementById("upload-token").value.length > 20`, "the token to move into the form")

	// An earlier attempt (another tab, before a reload) sent the first 3 parts: the page resumes
	// it and sends only the rest.
	id := presend(t, srv.URL(), tok, clip, 3)
	st, _ := os.Stat(clip)
	key := fmt.Sprintf("relaycast-upload:e2e:%s:%d:%d", filepath.Base(clip), st.Size(), st.ModTime().UnixMilli())
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`localStorage.setItem(%q, %q), true`, key, id))); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("upload-title-input"), "Spring sale"),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{clip}),
		chromedp.Click(chromedp.ID("upload-submit"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 30*time.Second, `window.relaycast.uploads.length === 1 && window.relaycast.uploads[0].sent >= 100`, "the upload progress to reach 100 %")
	waitJS(t, ctx, 120*time.Second, `window.relaycast.uploads[0].state === "ready"`, "the upload to be ready")
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.relaycast.uploads[0].id`)); err != nil || got != id {
		t.Fatalf("recording id %q (%v), want the resumed upload %s", got, err, id)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.relaycast.uploads[0].resumed`)); err != nil || n != 3 {
		t.Errorf("%d parts skipped (%v), want 3", n, err)
	}
	if left, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`Object.keys(localStorage).filter(k => k.startsWith("relaycast-upload:")).length`)); left != 0 {
		t.Errorf("%d upload sessions left in localStorage after completing", left)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".upload-item a").getAttribute("href")`))
	if err != nil || href != "/v/"+id {
		t.Fatalf("watch link %q (%v), want /v/%s", href, err, id)
	}
	bar, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".upload-item [role=progressbar]").getAttribute("aria-valuenow")`))
	if err != nil || bar != "100" {
		t.Errorf("progress bar at %q (%v)", bar, err)
	}

	// A file that is no video: the page shows why.
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{notes}),
		chromedp.Click(chromedp.ID("upload-submit"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 60*time.Second, `window.relaycast.uploads.length === 2 && window.relaycast.uploads[1].state === "failed"`, "the non-video upload to fail")
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".upload-item[data-state=failed] .upload-error").textContent`))
	if err != nil || !strings.Contains(msg, "not a video") {
		t.Errorf("error shown: %q (%v)", msg, err)
	}
	// An empty form: a clear message, focus on the field.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("upload-submit"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 5*time.Second, `document.activeElement.id === "upload-file" && window.relaycast.error.includes("Pick")`, "the missing file to be reported")

	shots := screenshotDir(t)
	screenshot(t, ctx, shots, "upload-desktop.png", 1280)
	screenshot(t, ctx, shots, "upload-phone.png", 390)
}

// presend starts an upload of file through the API and sends its first n parts, as an
// interrupted earlier attempt would have; it returns the upload id.
func presend(t *testing.T, base, token, file string, n int) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"room": "e2e", "title": "Spring sale", "filename": filepath.Base(file), "size": len(data), "content_type": "video/mp4"})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/uploads", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		ID       string `json:"id"`
		PartSize int    `json:"part_size"`
		Parts    []struct {
			URL string `json:"url"`
		} `json:"parts"`
	}
	err = json.NewDecoder(res.Body).Decode(&up)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated || len(up.Parts) <= n {
		t.Fatalf("start upload: %d %v (%d parts)", res.StatusCode, err, len(up.Parts))
	}
	for i := 0; i < n; i++ {
		part := data[i*up.PartSize : (i+1)*up.PartSize]
		req, _ := http.NewRequest(http.MethodPut, base+up.Parts[i].URL, bytes.NewReader(part))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("part %d: %d", i+1, res.StatusCode)
		}
	}
	return up.ID
}
