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

// bookingKey names a cached booking. The value is the booking's user id and vendor id (16
// bytes each), then its JSON as the API sends it: a cached read checks who may see it from the
// ids and sends the JSON as it is (GetRaw), with no decoding or encoding.
func bookingKey(id uuid.UUID) string { return "booking:v2:" + id.String() }

const idsLen = 32

var _ booking.RawCache = (*BookingCache)(nil)

// GetRaw implements booking.RawCache.
func (bc *BookingCache) GetRaw(ctx context.Context, id uuid.UUID) (*booking.Raw, bool, error) {
	v, err := bc.c.rdb.Get(ctx, bookingKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache get: %w", err)
	}
	if len(v) <= idsLen {
		return nil, false, fmt.Errorf("cache get %s: a value of %d bytes", id, len(v))
	}
	r := &booking.Raw{JSON: v[idsLen:]}
	copy(r.UserID[:], v[:16])
	copy(r.VendorID[:], v[16:idsLen])
	return r, true, nil
}

// Get implements booking.Cache.
func (bc *BookingCache) Get(ctx context.Context, id uuid.UUID) (*booking.Booking, bool, error) {
	r, ok, err := bc.GetRaw(ctx, id)
	if !ok || err != nil {
		return nil, ok, err
	}
	var b booking.Booking
	if err := json.Unmarshal(r.JSON, &b); err != nil {
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
	v := make([]byte, 0, idsLen+len(raw))
	v = append(append(append(v, b.UserID[:]...), b.VendorID[:]...), raw...)
	key := bookingKey(b.ID)
	err = bc.c.rdb.Set(ctx, key, v, bc.ttl).Err()
	bc.c.forget(key)
	if err != nil {
		return fmt.Errorf("cache set: %w", err)
	}
	return nil
}

// Delete implements booking.Cache.
func (bc *BookingCache) Delete(ctx context.Context, id uuid.UUID) error {
	key := bookingKey(id)
	err := bc.c.rdb.Del(ctx, key).Err()
	bc.c.forget(key)
	if err != nil {
		return fmt.Errorf("cache delete: %w", err)
	}
	return nil
}
