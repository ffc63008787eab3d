#!/usr/bin/env bash
# govulncheck against an offline copy of the Go vulnerability database.
#
# govulncheck's default database (vuln.go.dev) is not reachable from here, but
# the database's source, golang.org/x/vulndb, is a module on the Go module
# proxy. This script downloads the newest version (or VULNDB_VERSION), indexes
# its OSV files with the module's own cmd/indexdb into a cache folder (kept
# between runs, one per version), and runs govulncheck with -db file://...
# A new advisory against a dependency or the pinned Go toolchain fails the run:
# that is the point; upgrade the module (or the toolchain line in go.mod).
#
# Usage: scripts/vulncheck.sh   (from anywhere; checks ./... of the repository)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=auto
GO=${GO:-go}
govulncheck_version=v1.9.0
vulndb_version=${VULNDB_VERSION:-latest}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/secureportal/vulndb

say() { echo "vulncheck: $*" >&2; }

# Outside the repository, so resolving the database module never touches go.mod.
info=$(cd / && GOFLAGS=-mod=mod "$GO" mod download -json "golang.org/x/vulndb@$vulndb_version")
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info" | head -n 1; }
version=$(field Version)
src=$(field Dir)
if [ -z "$version" ] || [ ! -d "$src/data/osv" ]; then
	say "could not download golang.org/x/vulndb@$vulndb_version:"
	echo "$info" >&2
	exit 1
fi

db=$cache/$version
if [ ! -f "$db/index/db.json" ]; then
	say "indexing golang.org/x/vulndb@$version ($(ls "$src/data/osv" | wc -l) advisories) into $db"
	rm -rf "$db.tmp"
	mkdir -p "$(dirname "$db")"
	(cd / && "$GO" run "golang.org/x/vulndb/cmd/indexdb@$version" -vulns "$src/data/osv" -out "$db.tmp")
	rm -rf "$db"
	mv "$db.tmp" "$db"
fi

say "golang.org/x/vulndb@$version, govulncheck $govulncheck_version, $("$GO" -C "$repo" env GOVERSION)"
cd "$repo"
"$GO" run "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version" -db "file://$db" ./...
