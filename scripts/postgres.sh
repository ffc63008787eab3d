#!/usr/bin/env bash
# Prints the URL of a PostgreSQL server that `make run` and `make test` can use,
# starting one when none answers:
#   1. a server on 127.0.0.1:5432 (the usual system cluster), else
#   2. the project's own throwaway cluster on 127.0.0.1:5433 (trust auth, data
#      kept between runs), installing Debian's postgresql package when root.
# Usage: scripts/postgres.sh [database]   (default: postgres)
# Progress goes to stderr; stdout is only the URL.
set -euo pipefail

db=${1:-postgres}
own_port=5433
repo=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "postgres.sh: $*" >&2; }
url_for() { echo "postgres://postgres@127.0.0.1:$1/$db?sslmode=disable"; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if answers 5432; then url_for 5432; exit 0; fi
if answers "$own_port"; then url_for "$own_port"; exit 0; fi

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bindir=$(find_bindir)
if [ -z "$bindir" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "no PostgreSQL found: installing Debian's postgresql package"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		bindir=$(find_bindir)
	fi
	if [ -z "$bindir" ]; then
		say "PostgreSQL is neither running on 127.0.0.1:5432 nor installed."
		say "Install it (Debian/Ubuntu: sudo apt-get install postgresql) and run again,"
		say "or set PORTAL_DATABASE_URL (make run) / PORTAL_TEST_DATABASE_URL (make test)."
		exit 1
	fi
	# The package may have started its own cluster on 5432; use it if it trusts us.
	if answers 5432 && "$bindir/psql" -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
		url_for 5432
		exit 0
	fi
fi

# initdb refuses to run as root: as root the cluster belongs to the postgres
# user and lives in its home; otherwise it lives in the checkout.
if [ "$(id -u)" = 0 ]; then
	data=/var/lib/postgresql/secureportal-dev
	install -d -o postgres -g postgres -m 700 "$data"
	as_owner=(runuser -u postgres --)
else
	data=$repo/.dev/pgdata
	mkdir -p "$data"
	chmod 700 "$data"
	as_owner=()
fi
if [ ! -f "$data/PG_VERSION" ]; then
	say "creating a local PostgreSQL cluster in $data"
	"${as_owner[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
say "starting PostgreSQL on 127.0.0.1:$own_port (data in $data; stop it with: ${as_owner[*]} $bindir/pg_ctl -D $data stop)"
"${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
	-o "-p $own_port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
url_for "$own_port"
