// Package elasticsearch holds the Elasticsearch index definitions of the scale profile as
// embedded files, named <index>.v<N>.json (settings and mappings of one version of an index).
// A released version is never edited: a change of mapping is a new version. When the new
// version only adds fields to the one an alias points at (same settings, every old field as it
// was), elastic.(*Store).Migrate applies it to that index in place and fills the new fields of
// its documents; otherwise (other settings: version 4 sorts the index by rating; or another
// _source: version 6 leaves the fields derived for the index out of it) it builds the new
// version next to the old one from the old one's documents, moves the aliases and deletes the
// old one (elastic's rebuild). Since version 6 the source does not keep the fields derived for
// the index, only their checksum: a build that derives them otherwise rewrites a document at its
// next write or with `reservo reindex`, and a new version when every document must change at once.
package elasticsearch

import "embed"

// Indices holds the index definitions.
//
//go:embed *.json
var Indices embed.FS
