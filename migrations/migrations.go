// Package migrations embeds the portal's SQL schema changes so that the binary
// carries them and `portal serve` can apply them on start-up.
package migrations

import "embed"

// FS holds every NNNN_name.sql file, applied in order by goose.
//
//go:embed *.sql
var FS embed.FS
