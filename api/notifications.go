package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/validate"
)

type feedPage struct {
	Items      []notify.FeedItem `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// listNotifications is the caller's in-app feed, newest first: a guest's own items, a
// manager's vendor's items.
func (a *API) listNotifications(c *fiber.Ctx) error {
	limit := 20
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return validate.Errors{{Field: "limit", Message: "must be a number from 1 to 100"}}
		}
		limit = n
	}
	items, next, err := a.feed.List(c.UserContext(), principal(c), c.Query("cursor"), limit)
	if err != nil {
		return err
	}
	if items == nil {
		items = []notify.FeedItem{}
	}
	return c.JSON(feedPage{Items: items, NextCursor: next})
}

func (a *API) readNotification(c *fiber.Ctx) error {
	id, err := pathID(c, "notificationid")
	if err != nil {
		return err
	}
	if err := a.feed.MarkRead(c.UserContext(), principal(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
