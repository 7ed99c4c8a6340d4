package uploads_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/catalog"
)

func putVTT(t *testing.T, url, token, body string) (int, catalog.Recording) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/vtt")
	res, b := send(t, req, token)
	var r catalog.Recording
	if res.StatusCode == http.StatusCreated {
		_ = json.Unmarshal(b, &r)
	}
	return res.StatusCode, r
}

const vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n"

// TestSubtitles: a WebVTT upload round trip (stored as text/vtt, listed on the recording,
// replaced, deleted) with the recording's publisher or an admin; bad bodies and tokens refused.
func TestSubtitles(t *testing.T) {
	s := startArchive(t, nil)
	ctx := context.Background()
	if err := s.Archive().Catalog().Put(ctx, catalog.Recording{ID: "r1", Room: "shop", Title: "One", StartedAt: time.Now(), Status: catalog.StatusReady}); err != nil {
		t.Fatal(err)
	}
	base := s.Base + "/api/recordings/r1/subtitles/"
	pub, admin := s.Token(t, "shop", auth.GrantPublish), s.Token(t, auth.AnyRoom, auth.GrantAdmin)
	for _, tt := range []struct {
		name, lang, token, body string
		code                    int
	}{
		{"no token", "en", "", vtt, 401},
		{"other room", "en", s.Token(t, "other", auth.GrantPublish), vtt, 403},
		{"not vtt", "en", pub, "1\n00:00:00,000 --> 00:00:02,000\nHello\n", 400},
		{"WEBVTTX", "en", pub, "WEBVTTX\n", 400},
		{"bad lang", "../../x", pub, vtt, 404}, // not even routed
		{"bad lang tag", "english!", pub, vtt, 400},
		{"too big", "en", pub, "WEBVTT\n\n" + strings.Repeat("x", 3<<20), 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := putVTT(t, base+tt.lang, tt.token, tt.body); code != tt.code {
				t.Fatalf("%d, want %d", code, tt.code)
			}
		})
	}
	code, r := putVTT(t, base+"en?label=English", pub, "\xef\xbb\xbf"+vtt)
	if code != http.StatusCreated || len(r.Subtitles) != 1 || r.Subtitles[0].Label != "English" || r.Subtitles[0].URL != "/vod/rec/r1/subs/en.vtt" {
		t.Fatalf("%d %+v", code, r.Subtitles)
	}
	code, r = putVTT(t, base+"pt-BR?label=Portugu%C3%AAs", admin, vtt)
	if code != http.StatusCreated || len(r.Subtitles) != 2 || r.Subtitles[1].Label != "Português" {
		t.Fatalf("%d %+v", code, r.Subtitles)
	}
	code, r = putVTT(t, base+"en?label=English+(CC)", pub, vtt+"\n00:00:02.000 --> 00:00:03.000\nAgain\n")
	if code != http.StatusCreated || len(r.Subtitles) != 2 || r.Subtitles[0].Label != "English (CC)" {
		t.Fatalf("replace: %d %+v", code, r.Subtitles)
	}
	res, err := http.Get(s.Base + r.Subtitles[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/vtt") || !strings.Contains(string(b), "Again") {
		t.Fatalf("GET vtt: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	var got catalog.Recording
	if getJSON(t, s.Base+"/api/recordings/r1", "", &got); len(got.Subtitles) != 2 || got.Source != catalog.SourceLive {
		t.Fatalf("recording %+v", got)
	}
	if code := do(t, http.MethodDelete, base+"en", s.Token(t, "other", auth.GrantPublish), ""); code != 403 {
		t.Errorf("delete with another room's token: %d", code)
	}
	if code := do(t, http.MethodDelete, base+"en", pub, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code := do(t, http.MethodDelete, base+"en", pub, ""); code != 404 {
		t.Errorf("second delete: %d", code)
	}
	if code := getJSON(t, s.Base+"/vod/rec/r1/subs/en.vtt", "", nil); code != 404 {
		t.Errorf("deleted file still served: %d", code)
	}
	if getJSON(t, s.Base+"/api/recordings/r1", "", &got); len(got.Subtitles) != 1 || got.Subtitles[0].Lang != "pt-BR" {
		t.Fatalf("after delete %+v", got.Subtitles)
	}
	if code, _ := putVTT(t, s.Base+"/api/recordings/nope/subtitles/en", admin, vtt); code != 404 {
		t.Errorf("unknown recording: %d", code)
	}
}

// TestListSearch: GET /api/recordings?q= filters titles, with the other filters.
func TestListSearch(t *testing.T) {
	s := startArchive(t, nil)
	now := time.Now()
	for i, title := range []string{"Spring Sale", "Summer sale", "Winter"} {
		_ = s.Archive().Catalog().Put(context.Background(), catalog.Recording{ID: "r" + string(rune('a'+i)), Room: "shop", Title: title,
			StartedAt: now.Add(time.Duration(i) * time.Second), Status: catalog.StatusReady, Source: catalog.SourceUpload})
	}
	var page catalog.Page
	if code := getJSON(t, s.Base+"/api/recordings?q=SALE&room=shop", "", &page); code != 200 || len(page.Recordings) != 2 || page.Recordings[0].Title != "Summer sale" {
		t.Fatalf("%d %+v", code, page)
	}
	if getJSON(t, s.Base+"/api/recordings?q=sale&limit=1", "", &page); len(page.Recordings) != 1 || page.NextCursor == "" {
		t.Fatalf("%+v", page)
	}
	if getJSON(t, s.Base+"/api/recordings?q=sale&limit=1&cursor="+page.NextCursor, "", &page); len(page.Recordings) != 1 || page.Recordings[0].Title != "Spring Sale" {
		t.Fatalf("%+v", page)
	}
}
