#!/usr/bin/env bash
# Starts the tests' own redis-server and PostgreSQL 15 cluster on free loopback ports in DIR, and
# writes DIR/env (REDIS_URL, DATABASE_URL, PG_BIN, ...). Stop them with stop.sh DIR.
set -euo pipefail
DIR="${1:?usage: start.sh DIR}"
"$(dirname "$0")/stop.sh" "$DIR" >/dev/null 2>&1 || true
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
REDIS_PORT=$(free_port)
PG_PORT=$(free_port)
PG_BIN=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$PG_BIN" ] || { echo "start.sh: PostgreSQL 15 is not installed (apt-get install postgresql-15)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "start.sh: redis-server is not installed" >&2; exit 1; }

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$DIR/redis.pid" --dir "$DIR" --logfile "$DIR/redis.log"

# PostgreSQL refuses to run as root: the cluster belongs to the postgres user (or nobody)
RUN_AS=postgres
id postgres >/dev/null 2>&1 || RUN_AS=nobody
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi; }
PGDATA="$DIR/pg"
mkdir -p "$PGDATA"
echo "pikku-test-secret" > "$DIR/pwfile"
[ "$(id -u)" -eq 0 ] && chown -R "$RUN_AS" "$DIR/pg" "$DIR/pwfile" && chmod 755 "$DIR"
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U pikku --pwfile="$DIR/pwfile" --auth=scram-sha-256 -E UTF8 \
  --no-instructions >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 start \
  -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  >/dev/null || { cat "$PGDATA/server.log" >&2; exit 1; }
PGPASSWORD=pikku-test-secret "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U pikku pikku
cat > "$DIR/env" <<ENV
REDIS_PORT=$REDIS_PORT
PG_PORT=$PG_PORT
PG_BIN=$PG_BIN
PG_RUN_AS=$RUN_AS
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
DATABASE_URL=postgres://pikku:pikku-test-secret@127.0.0.1:$PG_PORT/pikku
ENV
echo "test servers up: redis :$REDIS_PORT, postgresql :$PG_PORT ($DIR)"
