package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/notify"
)

// NotificationStore keeps the notifier's notifications and serves the in-app feed.
type NotificationStore struct{ db *DB }

var (
	_ notify.Store     = (*NotificationStore)(nil)
	_ notify.FeedStore = (*NotificationStore)(nil)
	_ notify.Directory = (*NotifyDirectory)(nil)
	_ notify.Bookings  = (*BookingStore)(nil)
)

// NewNotificationStore returns the notification store of db.
func NewNotificationStore(db *DB) *NotificationStore { return &NotificationStore{db: db} }

const notificationColumns = `id, event_id, channel, recipient_kind, recipient_id, booking_id, kind,
	coalesce(address, ''), subject, body, payload, state, attempts, coalesce(last_error, ''), created_at, sent_at, read_at`

func scanNotification(row pgx.Row) (notify.Notification, error) {
	var n notify.Notification
	var bookingID *uuid.UUID
	err := row.Scan(&n.ID, &n.EventID, &n.Channel, &n.RecipientKind, &n.RecipientID, &bookingID, &n.Kind,
		&n.Address, &n.Subject, &n.Body, &n.Payload, &n.State, &n.Attempts, &n.LastError, &n.CreatedAt, &n.SentAt, &n.ReadAt)
	if bookingID != nil {
		n.BookingID = *bookingID
	}
	return n, err
}

// Record implements notify.Store.
func (s *NotificationStore) Record(ctx context.Context, eventID uuid.UUID, ns []notify.Notification) ([]notify.Notification, error) {
	var out []notify.Notification
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		for _, n := range ns {
			if n.EventID != eventID {
				return fmt.Errorf("notification %s is of event %s, not %s", n.ID, n.EventID, eventID)
			}
			state, sentAt := notify.Pending, (*time.Time)(nil)
			if n.Channel == notify.Feed {
				// Writing a feed item is its delivery.
				state, sentAt = notify.Sent, &n.CreatedAt
			}
			var bookingID *uuid.UUID
			if n.BookingID != uuid.Nil {
				bookingID = &n.BookingID
			}
			payload := n.Payload
			if len(payload) == 0 {
				payload = []byte(`{}`)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notification (id, event_id, channel, recipient_kind, recipient_id,
				booking_id, kind, address, subject, body, payload, state, created_at, sent_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
				ON CONFLICT (event_id, channel, recipient_id) DO NOTHING`,
				n.ID, n.EventID, n.Channel, n.RecipientKind, n.RecipientID, bookingID, n.Kind, nullable(n.Address),
				n.Subject, n.Body, string(payload), state, n.CreatedAt, sentAt); err != nil {
				return fmt.Errorf("insert notification: %w", constraintErr(err))
			}
		}
		rows, err := tx.Query(ctx, `SELECT `+notificationColumns+` FROM notification WHERE event_id = $1
			ORDER BY created_at, id`, eventID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.Notification, error) {
			return scanNotification(r)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record notifications of %s: %w", eventID, err)
	}
	return out, nil
}

// Deliver implements notify.Store. The row lock is held while send runs, so that two handlers
// of one event never send the same notification: the second waits, then finds it sent.
func (s *NotificationStore) Deliver(ctx context.Context, id uuid.UUID, send func(context.Context) error) (bool, error) {
	tx, err := s.db.Pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("deliver %s: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var state notify.State
	err = tx.QueryRow(ctx, `SELECT state FROM notification WHERE id = $1 FOR UPDATE`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("deliver %s: %w", id, notify.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("deliver %s: %w", id, err)
	}
	if state == notify.Sent {
		return false, nil
	}
	sendErr := send(ctx)
	// What was sent is recorded even when ctx ends now (a shutdown during the send), which keeps
	// the window of a duplicate as small as a commit.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sendErr != nil {
		msg := sendErr.Error()
		if len(msg) > 1000 {
			msg = msg[:1000]
		}
		_, err = tx.Exec(mctx, `UPDATE notification SET state = 'failed', attempts = attempts + 1, last_error = $2
			WHERE id = $1`, id, msg)
	} else {
		_, err = tx.Exec(mctx, `UPDATE notification SET state = 'sent', attempts = attempts + 1, last_error = NULL,
			sent_at = now() WHERE id = $1`, id)
	}
	if err == nil {
		err = tx.Commit(mctx)
	}
	if err != nil {
		return true, errors.Join(sendErr, fmt.Errorf("deliver %s: record outcome: %w", id, err))
	}
	return true, sendErr
}

// List implements notify.FeedStore: keyset pagination on (created_at, id), newest first.
func (s *NotificationStore) List(ctx context.Context, recipientID uuid.UUID, cursor string, limit int) ([]notify.FeedItem, string, error) {
	var after *time.Time
	afterID := uuid.Nil
	if cursor != "" {
		t, id, err := notify.DecodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		after, afterID = &t, id
	}
	if limit <= 0 {
		limit = notify.DefaultFeedLimit
	}
	rows, err := s.db.readQuery(ctx, `SELECT id, kind, subject, body, payload, created_at, read_at FROM notification
		WHERE recipient_id = $1 AND channel = 'feed' AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, recipientID, after, afterID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("feed: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.FeedItem, error) {
		var it notify.FeedItem
		err := r.Scan(&it.ID, &it.Kind, &it.Title, &it.Body, &it.Payload, &it.CreatedAt, &it.ReadAt)
		return it, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("feed: %w", err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		next = notify.EncodeCursor(last.CreatedAt, last.ID)
	}
	return items, next, nil
}

// MarkRead implements notify.FeedStore.
func (s *NotificationStore) MarkRead(ctx context.Context, recipientID, itemID uuid.UUID, at time.Time) error {
	tag, err := s.db.Pool.Exec(ctx, `UPDATE notification SET read_at = coalesce(read_at, $3)
		WHERE id = $2 AND recipient_id = $1 AND channel = 'feed'`, recipientID, itemID, at)
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark read %s: %w", itemID, notify.ErrNotFound)
	}
	return nil
}

// NotifyDirectory is notify.Directory on PostgreSQL: who gets a booking's notifications.
type NotifyDirectory struct{ db *DB }

// NewNotifyDirectory returns the directory of db.
func NewNotifyDirectory(db *DB) *NotifyDirectory { return &NotifyDirectory{db: db} }

// Guest implements notify.Directory.
func (d *NotifyDirectory) Guest(ctx context.Context, userID uuid.UUID) (booking.Guest, error) {
	var g booking.Guest
	err := d.db.Pool.QueryRow(ctx, `SELECT name, email, coalesce(phone, '') FROM users WHERE id = $1`, userID).Scan(&g.Name, &g.Email, &g.Phone)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("user %s: %w", userID, notify.ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("guest: %w", err)
	}
	return g, nil
}

// Vendor implements notify.Directory.
func (d *NotifyDirectory) Vendor(ctx context.Context, vendorID uuid.UUID) (notify.Vendor, error) {
	var v notify.Vendor
	err := d.db.Pool.QueryRow(ctx, `SELECT id, name, timezone, coalesce(webhook_url, '') FROM vendor WHERE id = $1`,
		vendorID).Scan(&v.ID, &v.Name, &v.Timezone, &v.WebhookURL)
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Vendor{}, fmt.Errorf("vendor %s: %w", vendorID, notify.ErrNotFound)
	}
	if err != nil {
		return notify.Vendor{}, fmt.Errorf("vendor contact: %w", err)
	}
	return v, nil
}

// Managers implements notify.Directory.
func (d *NotifyDirectory) Managers(ctx context.Context, vendorID uuid.UUID) ([]notify.Contact, error) {
	rows, err := d.db.Pool.Query(ctx, `SELECT id, email FROM vendor_manager WHERE vendor_id = $1 ORDER BY created_at, id`, vendorID)
	if err != nil {
		return nil, fmt.Errorf("managers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.Contact, error) {
		var c notify.Contact
		err := r.Scan(&c.ID, &c.Email)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("managers: %w", err)
	}
	return out, nil
}
