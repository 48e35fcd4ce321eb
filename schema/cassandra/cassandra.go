// Package cassandra holds the CQL schema of the booking archive in Cassandra (the scale
// profile), as versioned files applied in file-name order by (*cassandra.Store).Migrate.
//
// A file is named NNNN_description.cql and, once released, never edited: a change is a new
// file. Statements end with a semicolon at the end of a line; lines starting with -- are
// comments. ${keyspace} stands for the archive's keyspace and ${replication} for its
// replication map, both chosen when the store is opened.
package cassandra

import "embed"

// Migrations holds the CQL files.
//
//go:embed *.cql
var Migrations embed.FS
