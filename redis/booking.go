package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/reservo/reservo/booking"
)

// BookingCache keeps bookings as JSON under booking:<id> with a short time to live: every
// change deletes the entry, and the TTL bounds how stale an entry can be when a delete was
// lost (Redis down at that moment) or raced with a read.
type BookingCache struct {
	c   *Client
	ttl time.Duration
}

var _ booking.Cache = (*BookingCache)(nil)

// NewBookingCache returns the booking cache of c.
func NewBookingCache(c *Client, ttl time.Duration) *BookingCache {
	return &BookingCache{c: c, ttl: ttl}
}

func bookingKey(id uuid.UUID) string { return "booking:" + id.String() }

// Get implements booking.Cache.
func (bc *BookingCache) Get(ctx context.Context, id uuid.UUID) (*booking.Booking, bool, error) {
	raw, err := bc.c.rdb.Get(ctx, bookingKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache get: %w", err)
	}
	var b booking.Booking
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, false, fmt.Errorf("cache decode: %w", err)
	}
	return &b, true, nil
}

// Set implements booking.Cache.
func (bc *BookingCache) Set(ctx context.Context, b *booking.Booking) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("cache encode: %w", err)
	}
	if err := bc.c.rdb.Set(ctx, bookingKey(b.ID), raw, bc.ttl).Err(); err != nil {
		return fmt.Errorf("cache set: %w", err)
	}
	return nil
}

// Delete implements booking.Cache.
func (bc *BookingCache) Delete(ctx context.Context, id uuid.UUID) error {
	if err := bc.c.rdb.Del(ctx, bookingKey(id)).Err(); err != nil {
		return fmt.Errorf("cache delete: %w", err)
	}
	return nil
}
