package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Product is the room's pinned product (buy-now); the data of a "product" event (null: unpinned).
type Product struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	ImageURL string `json:"image_url"`
	Price    int64  `json:"price"` // minor units (cents)
	Stock    int    `json:"stock"`
	URL      string `json:"url,omitempty"`
}

// validProduct checks p and returns it with Title trimmed.
func validProduct(p Product) (Product, error) {
	if err := validToken("product id", p.ID, maxIDBytes); err != nil {
		return Product{}, err
	}
	if strings.TrimSpace(p.ID) != p.ID {
		return Product{}, fmt.Errorf("%w: product id has surrounding spaces", ErrInvalid)
	}
	if checkChars(p.Title) != nil {
		return Product{}, fmt.Errorf("%w: product title has a bad character", ErrInvalid)
	}
	p.Title = strings.TrimFunc(p.Title, blank)
	if n := utf8.RuneCountInString(p.Title); n == 0 || n > maxTitleRunes {
		return Product{}, fmt.Errorf("%w: product title must be 1..%d characters", ErrInvalid, maxTitleRunes)
	}
	if err := validURL("image_url", p.ImageURL); err != nil {
		return Product{}, err
	}
	if err := validURL("url", p.URL); err != nil {
		return Product{}, err
	}
	if p.Price < 0 {
		return Product{}, fmt.Errorf("%w: price %d", ErrInvalid, p.Price)
	}
	if p.Stock < 0 {
		return Product{}, fmt.Errorf("%w: stock %d", ErrInvalid, p.Stock)
	}
	return p, nil
}

// Pin makes p the room's pinned product (replacing any) and emits product {p}. Returns p as
// stored (title trimmed). Errors wrap ErrInvalid for a bad product; nothing changes then.
func (s *Service) Pin(ctx context.Context, room string, p Product, by string) (Product, error) {
	if s.isClosed() {
		return Product{}, ErrClosed
	}
	if err := validRoom(room); err != nil {
		return Product{}, err
	}
	if err := validToken("by", by, maxByBytes); err != nil {
		return Product{}, err
	}
	p, err := validProduct(p)
	if err != nil {
		return Product{}, err
	}
	data, err := jval(p)
	if err != nil {
		return Product{}, err
	}
	if err := s.scr.pin.Run(ctx, s.rdb, []string{s.key(room, "product")}, s.pfx, room, data).Err(); err != nil {
		return Product{}, fmt.Errorf("chat: pin: %w", err)
	}
	s.lg.Info("product pinned", "room", room, "by", by, "id", p.ID)
	return p, nil
}

// Unpin removes the room's pinned product and emits product null; with none pinned it changes
// nothing and emits nothing.
func (s *Service) Unpin(ctx context.Context, room, by string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := validRoom(room); err != nil {
		return err
	}
	if err := validToken("by", by, maxByBytes); err != nil {
		return err
	}
	if err := s.scr.unpin.Run(ctx, s.rdb, []string{s.key(room, "product")}, s.pfx, room).Err(); err != nil {
		return fmt.Errorf("chat: unpin: %w", err)
	}
	return nil
}

// Product returns the room's pinned product, or nil.
func (s *Service) Product(ctx context.Context, room string) (*Product, error) {
	if err := validRoom(room); err != nil {
		return nil, err
	}
	v, err := s.rdb.Get(ctx, s.key(room, "product")).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chat: product: %w", err)
	}
	var p Product
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, fmt.Errorf("chat: product: %w", err)
	}
	return &p, nil
}
