package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/webhook"
)

const hookSecret = "shop-webhook-secret-0123456789"

// delivery is one webhook request a test receiver got, its signature checked.
type delivery struct {
	header http.Header
	body   webhook.Body
	raw    []byte
}

// hookReceiver is the shop: a real HTTP server on loopback that checks every signature.
func hookReceiver(t *testing.T) (string, <-chan delivery) {
	t.Helper()
	ch := make(chan delivery, 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if !webhook.Verify(hookSecret, raw, r.Header.Get("X-Relaycast-Signature")) {
			t.Errorf("bad signature %q on %s", r.Header.Get("X-Relaycast-Signature"), raw)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		d := delivery{header: r.Header.Clone(), raw: raw}
		if err := json.Unmarshal(raw, &d.body); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		ch <- d
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/relaycast", ch
}

// nextDelivery waits for the next delivery, of type typ ("" = any).
func nextDelivery(t *testing.T, ch <-chan delivery, typ string) delivery {
	t.Helper()
	select {
	case d := <-ch:
		if (typ != "" && d.body.Type != typ) || d.header.Get("X-Relaycast-Event") != d.body.Type || d.header.Get("Idempotency-Key") != d.body.ID {
			t.Fatalf("got %s (%v), want a %s", d.raw, d.header, typ)
		}
		return d
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s webhook", typ)
	}
	return delivery{}
}

// withWebhooks sends the node's webhooks to url; with RELAYCAST_TEST_REDIS the node uses that
// Redis (database 15) instead of the in-process one.
func withWebhooks(url string, redisURL string, more func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.WebhookURLs, c.WebhookSecret, c.WebhookAllowPrivate = []string{url}, hookSecret, true
		c.RedisURL = redisURL
		if more != nil {
			more(c)
		}
	}
}

func eachServerRedis(t *testing.T, fn func(t *testing.T, redisURL string)) {
	t.Run("embedded", func(t *testing.T) { fn(t, "") })
	t.Run("redis", func(t *testing.T) {
		if os.Getenv("RELAYCAST_TEST_REDIS") == "" && os.Getenv("CI") != "true" {
			t.Skip("RELAYCAST_TEST_REDIS not set (the embedded variant ran)")
		}
		fn(t, testserver.RedisURL(t, 15))
	})
}

// A Pion publisher going live over WHIP sends room.live, its DELETE room.ended, and going live
// again in the same room is a new broadcast: a new room.live with a new id.
func TestWebhooksRoomLiveAndEnded(t *testing.T) {
	eachServerRedis(t, func(t *testing.T, redisURL string) {
		url, hooks := hookReceiver(t)
		s := start(t, withWebhooks(url, redisURL, func(c *config.Config) { c.Record = false }))
		tok := s.token(t, "shop1", auth.GrantPublish)
		_, loc, err := whipPublish(t, s, "shop1", tok)
		if err != nil {
			t.Fatal(err)
		}
		live := nextDelivery(t, hooks, webhook.TypeRoomLive)
		info, ok := s.SFU().Room("shop1")
		if !ok {
			t.Fatal("room not live")
		}
		wantID := fmt.Sprintf("room.live:shop1:%d", info.Since.UnixMilli())
		var data struct {
			Room      string `json:"room"`
			Publisher string `json:"publisher"`
			StartedAt int64  `json:"started_at"`
			EndedAt   int64  `json:"ended_at"`
			WatchURL  string `json:"watch_url"`
			Reason    string `json:"reason"`
		}
		if err := json.Unmarshal(live.body.Data, &data); err != nil {
			t.Fatal(err)
		}
		if live.body.ID != wantID || data.Room != "shop1" || data.Publisher != "test-shop1" ||
			data.StartedAt != info.Since.UnixMilli() || data.WatchURL != s.url+"/watch/shop1" {
			t.Fatalf("room.live %s, want id %s", live.raw, wantID)
		}

		if err := client.Delete(ctxT(t), nil, loc, ""); err != nil {
			t.Fatal(err)
		}
		ended := nextDelivery(t, hooks, webhook.TypeRoomEnded)
		data.Reason = ""
		if err := json.Unmarshal(ended.body.Data, &data); err != nil {
			t.Fatal(err)
		}
		if ended.body.ID != strings.Replace(wantID, "room.live", "room.ended", 1) || data.EndedAt < data.StartedAt || data.Reason == "" {
			t.Fatalf("room.ended %s", ended.raw)
		}

		// The same room live again: a new broadcast, a new event.
		waitFor(t, 5*time.Second, "room gone", func() bool { _, ok := s.SFU().Room("shop1"); return !ok })
		if _, _, err := whipPublish(t, s, "shop1", tok); err != nil {
			t.Fatal(err)
		}
		again := nextDelivery(t, hooks, webhook.TypeRoomLive)
		if again.body.ID == wantID || !strings.HasPrefix(again.body.ID, "room.live:shop1:") {
			t.Fatalf("second broadcast's room.live id %q (first %q)", again.body.ID, wantID)
		}
		waitFor(t, 5*time.Second, "delivered counter", func() bool {
			return strings.Contains(get(t, s.url+"/metrics", http.StatusOK), `relaycast_webhook_deliveries_total{result="delivered"} 3`)
		})
		select {
		case d := <-hooks:
			t.Fatalf("unexpected webhook %s", d.raw)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// recording.ready follows the archive's status events (every node's, through Redis); lot.won and
// lot.ended come from the auction's OnSettled hook (lotSettledWebhooks).
func TestWebhooksRecordingReadyAndLots(t *testing.T) {
	eachServerRedis(t, func(t *testing.T, redisURL string) {
		url, hooks := hookReceiver(t)
		s := start(t, withWebhooks(url, redisURL, func(c *config.Config) { c.PublicURL = "https://live.shop.example" }))

		rec := catalog.Recording{ID: "20261206T220000Z-shop1-0a1b2c3d", Room: "shop1", Title: "Sunday show", Status: catalog.StatusProcessing,
			Log: "operator only", HLSURL: "/vod/rec/20261206T220000Z-shop1-0a1b2c3d/live.m3u8"}
		s.Archive().Publish("recording", rec.ID, rec) // not ready: no webhook
		rec.Status, rec.Duration = catalog.StatusReady, 61.5
		rec.HLSURL, rec.PosterURL = "/vod/rec/"+rec.ID+"/master.m3u8", "/vod/rec/"+rec.ID+"/poster.jpg"
		s.Archive().Publish("recording", rec.ID, rec)
		s.Archive().Publish("recording", rec.ID, rec) // again (an edit): the same event
		ready := nextDelivery(t, hooks, webhook.TypeRecordingReady)
		var got struct {
			catalog.Recording
			PlaybackURL string `json:"playback_url"`
		}
		if err := json.Unmarshal(ready.body.Data, &got); err != nil {
			t.Fatal(err)
		}
		if ready.body.ID != "recording.ready:"+rec.ID || got.ID != rec.ID || got.Status != catalog.StatusReady || got.Duration != 61.5 ||
			got.HLSURL != "https://live.shop.example/vod/rec/"+rec.ID+"/master.m3u8" || got.PosterURL != "https://live.shop.example/vod/rec/"+rec.ID+"/poster.jpg" ||
			got.PlaybackURL != "https://live.shop.example/v/"+rec.ID || strings.Contains(string(ready.raw), "operator only") {
			t.Fatalf("recording.ready %s", ready.raw)
		}

		type lot struct {
			ID     string `json:"id"`
			Room   string `json:"room"`
			Status string `json:"status"`
			Price  int64  `json:"price"`
			Winner any    `json:"winner"`
		}
		s.LotSettledWebhooks(lot{ID: "lot-1", Room: "shop1", Status: "sold", Price: 4200, Winner: "user-7"})
		// Deliveries run concurrently: lot.won and lot.ended arrive in either order.
		got2 := map[string]delivery{}
		for range 2 {
			d := nextDelivery(t, hooks, "")
			got2[d.body.Type] = d
		}
		won, end1 := got2[webhook.TypeLotWon], got2[webhook.TypeLotEnded]
		if won.body.ID != "lot.won:lot-1" || end1.body.ID != "lot.ended:lot-1" ||
			string(won.body.Data) != `{"id":"lot-1","room":"shop1","status":"sold","price":4200,"winner":"user-7"}` ||
			string(end1.body.Data) != string(won.body.Data) {
			t.Fatalf("lot.won %s, lot.ended %s", won.raw, end1.raw)
		}
		s.LotSettledWebhooks(lot{ID: "lot-2", Room: "shop1", Status: "unsold", Price: 100})
		end2 := nextDelivery(t, hooks, webhook.TypeLotEnded)
		if end2.body.ID != "lot.ended:lot-2" {
			t.Fatalf("lot.ended %s", end2.raw)
		}
		s.LotSettledWebhooks(lot{ID: "lot-1", Status: "sold"}) // settled twice: nothing new
		select {
		case d := <-hooks:
			t.Fatalf("unexpected webhook %s", d.raw)
		case <-time.After(time.Second):
		}
	})
}

// The whole way: a real broadcast is recorded and transcoded (ffmpeg), and its recording.ready
// webhook carries the playable HLS URL, after the broadcast's room.live and room.ended.
func TestWebhooksRecordingReadyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("transcodes a recording")
	}
	url, hooks := hookReceiver(t)
	a := testserver.StartArchive(t, withWebhooks(url, "", nil))
	pub, end := a.PublishFile(t, "vodshop", 3*time.Second)
	nextDelivery(t, hooks, webhook.TypeRoomLive)
	select {
	case <-pub.Done(): // the whole clip was sent
	case <-time.After(20 * time.Second):
		t.Fatal("the clip did not finish")
	}
	end()
	got := map[string]delivery{}
	deadline := time.After(90 * time.Second)
	for got[webhook.TypeRecordingReady].raw == nil || got[webhook.TypeRoomEnded].raw == nil {
		select {
		case d := <-hooks:
			got[d.body.Type] = d
		case <-deadline:
			t.Fatalf("no recording.ready and room.ended (got %d webhooks)", len(got))
		}
	}
	var rec struct {
		catalog.Recording
		PlaybackURL string `json:"playback_url"`
	}
	ready := got[webhook.TypeRecordingReady]
	if err := json.Unmarshal(ready.body.Data, &rec); err != nil {
		t.Fatal(err)
	}
	if ready.body.ID != "recording.ready:"+rec.ID || rec.Room != "vodshop" || rec.Status != catalog.StatusReady ||
		rec.Duration < 2 || rec.PlaybackURL != a.Base+"/v/"+rec.ID || !strings.HasPrefix(rec.HLSURL, a.Base+"/vod/") {
		t.Fatalf("recording.ready %s", ready.raw)
	}
	if body := get(t, rec.HLSURL, http.StatusOK); !strings.HasPrefix(body, "#EXTM3U") {
		t.Fatalf("hls_url %s: %q", rec.HLSURL, body)
	}
}
