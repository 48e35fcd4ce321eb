// Package schema holds Reservo's database schemas as embedded files: the PostgreSQL migrations
// of the system of record (applied in file-name order by postgres.Migrate), and later the
// Cassandra CQL and the Elasticsearch mappings of the scale profile.
package schema

import "embed"

// Postgres holds the PostgreSQL migrations, named NNNN_description.sql. A migration, once
// released, is never edited: a change is a new file.
//
//go:embed postgres/*.sql
var Postgres embed.FS
