# Sourced by the outbound benchmarks: their own redis-server and PostgreSQL (tests/servers/start.sh)
# holding the route's data (bench_items, bench:hits:1), stopped on exit with every pid in PIDS.
# Needs REPO; sets SERVERS (their directory) and the variables of its env file (REDIS_PORT, PG_PORT, ...).
SERVERS=$(mktemp -d /tmp/pikku-bench-servers.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash "$REPO/tests/servers/stop.sh" "$SERVERS" >/dev/null
}
trap cleanup EXIT
bash "$REPO/tests/servers/start.sh" "$SERVERS" >/dev/null
set -a; . "$SERVERS/env"; set +a
PGPASSWORD=pikku-test-secret "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U pikku pikku <<'SQL'
CREATE TABLE bench_items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO bench_items SELECT i, 'item ' || i FROM generate_series(1, 1000) i;
SQL
redis-cli -p "$REDIS_PORT" set bench:hits:1 42 >/dev/null
