package auction

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzLotInput checks a lot as a seller's lot_create message (or POST …/lots) carries it: the
// lot JSON with its increment table. Properties: errors wrap ErrInvalid; a normalized lot is
// normalized again unchanged; its increment table is valid and every next bid it gives for a
// price in 0..MaxMoney is above the price without overflowing; the Redis forms are bounded.
func FuzzLotInput(f *testing.F) {
	for _, s := range []string{
		`{"title":"Sneakers","start_price":1000,"duration_s":60}`,
		`{"title":"Watch","description":"Mint\n","image_url":"https://cdn.example/w.jpg","start_price":0,"duration_s":120,"mode":"sudden_death","increments":[{"up_to":1000,"step":50},{"up_to":0,"step":100}]}`,
		`{"title":"x","duration_s":5,"extend_window_s":600,"extend_to_s":600,"max_extensions":1000}`,
		`{"title":"x","duration_s":60,"increments":[{"up_to":0,"step":1000000000000}]}`,
		`{"title":"x","duration_s":60,"increments":[{"up_to":5,"step":1},{"up_to":5,"step":1},{"up_to":0,"step":1}]}`,
		`{"title":"x","duration_s":60,"start_price":1000000000001}`,
		`{"title":"\u0007","duration_s":60}`, `{"title":"x","duration_s":60,"image_url":"ftp://x"}`,
	} {
		f.Add([]byte(s), int64(0))
	}
	f.Add([]byte(`{"title":"x","duration_s":60}`), MaxMoney)
	f.Fuzz(func(t *testing.T, data []byte, price int64) {
		var in LotInput
		if json.Unmarshal(data, &in) != nil {
			return
		}
		n, err := in.Normalize()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Normalize = %v: not ErrInvalid", err)
			}
			return
		}
		if n2, err := n.Normalize(); err != nil || !reflect.DeepEqual(n2, n) {
			t.Fatalf("Normalize not idempotent: %+v -> %+v, %v", n, n2, err)
		}
		if err := CheckIncrements(n.Increments); err != nil {
			t.Fatalf("normalized table invalid: %v", err)
		}
		if price < 0 {
			price = -(price + 1)
		}
		price %= MaxMoney + 1
		for _, hasBid := range []bool{false, true} {
			m := MinAmount(n.Increments, n.StartPrice, price, hasBid)
			if m <= 0 || (hasBid && (m <= price || m > 2*MaxMoney)) {
				t.Fatalf("MinAmount(price %d, bid %v) = %d", price, hasBid, m)
			}
		}
		if lua := incrementsLua(n.Increments); strings.Count(lua, ",") != len(n.Increments)-1 || len(lua) > MaxIncrementTiers*28 {
			t.Fatalf("incrementsLua = %q", lua)
		}
		if s, err := staticJSON("lot1", "shop", n); err != nil || !json.Valid([]byte("{"+s+"}")) {
			t.Fatalf("staticJSON = %q, %v", s, err)
		}
	})
}
