package chat_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/live/chat"
)

func TestPinUnpinProduct(t *testing.T) {
	backends(t, chat.Params{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		if p, err := e.svc.Product(ctx, "p"); err != nil || p != nil {
			t.Fatalf("nothing pinned: %v %v", p, err)
		}
		in := chat.Product{ID: "sku-1", Title: "  Vintage <lamp>  ", ImageURL: "https://img.example/l.jpg", Price: 4999, Stock: 3, URL: "https://shop.example/sku-1"}
		got, err := e.svc.Pin(ctx, "p", in, "seller")
		if err != nil || got.Title != "Vintage <lamp>" || got.Price != 4999 || got.Stock != 3 {
			t.Fatalf("pin: %+v %v", got, err)
		}
		var ev chat.Product
		e.lastEvent(t, "p", "product", &ev)
		if ev != got {
			t.Fatalf("product event %+v, want %+v", ev, got)
		}
		if p, err := e.svc.Product(ctx, "p"); err != nil || p == nil || *p != got {
			t.Fatalf("Product: %+v %v", p, err)
		}
		seq := e.seq(t, "p")
		bad := []chat.Product{
			{ID: "", Title: "x"},
			{ID: "a", Title: "  "},
			{ID: "a", Title: "x\x00"},
			{ID: "a", Title: strings.Repeat("t", 201)},
			{ID: "a", Title: "x", Price: -1},
			{ID: "a", Title: "x", Stock: -2},
			{ID: "a", Title: "x", ImageURL: "javascript:alert(1)"},
			{ID: "a", Title: "x", URL: "ftp://files.example/x"},
			{ID: "a", Title: "x", URL: "https://"},
			{ID: strings.Repeat("i", 65), Title: "x"},
		}
		for _, b := range bad {
			if _, err := e.svc.Pin(ctx, "p", b, "seller"); !errors.Is(err, chat.ErrInvalid) || chat.Code(err) != "bad_request" {
				t.Fatalf("pin %+v: %v", b, err)
			}
		}
		if e.seq(t, "p") != seq {
			t.Fatal("refused pins emitted")
		}
		if p, _ := e.svc.Product(ctx, "p"); p == nil || *p != got {
			t.Fatalf("refused pin changed the product: %+v", p)
		}
		// Replacing, with no url (omitted on the wire).
		got2, err := e.svc.Pin(ctx, "p", chat.Product{ID: "sku-2", Title: "Mug", Price: 0, Stock: 0}, "seller")
		if err != nil {
			t.Fatal(err)
		}
		last := e.lastEvent(t, "p", "product", nil)
		if string(last.Data) != `{"id":"sku-2","title":"Mug","image_url":"","price":0,"stock":0}` {
			t.Fatalf("product data %s", last.Data)
		}
		if p, _ := e.svc.Product(ctx, "p"); *p != got2 {
			t.Fatalf("after replace %+v", p)
		}
		if err := e.svc.Unpin(ctx, "p", "seller"); err != nil {
			t.Fatal(err)
		}
		last = e.lastEvent(t, "p", "product", nil)
		if string(last.Data) != "null" {
			t.Fatalf("unpin data %s", last.Data)
		}
		if p, err := e.svc.Product(ctx, "p"); err != nil || p != nil {
			t.Fatalf("after unpin %+v %v", p, err)
		}
		seq = e.seq(t, "p")
		if err := e.svc.Unpin(ctx, "p", "seller"); err != nil || e.seq(t, "p") != seq {
			t.Fatalf("second unpin: %v, or it emitted", err)
		}
	})
}
