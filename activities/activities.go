// Package activities holds the activities of the booking saga: inventory locks on PostgreSQL,
// payments through the provider, events and notifications. Activities are methods on
// Activities, which holds their clients; each is idempotent under retries.
package activities

import (
	"github.com/reservo/reservo/postgres"
)

// Activities holds the clients the activities use.
type Activities struct {
	DB *postgres.DB
}
