// Package elasticsearch holds the Elasticsearch index definitions of the scale profile as
// embedded files, named <index>.v<N>.json (settings and mappings of one version of an index).
// A released version is never edited: a change of mapping is a new version, which
// elastic.(*Store).Migrate creates next to the old one.
package elasticsearch

import "embed"

// Indices holds the index definitions.
//
//go:embed *.json
var Indices embed.FS
