#!/usr/bin/env bash
# Stops the servers start.sh started in DIR (by their pid files) and removes DIR.
set -uo pipefail
DIR="${1:?usage: stop.sh DIR}"
[ -d "$DIR" ] || exit 0
if [ -f "$DIR/redis.pid" ]; then kill "$(cat "$DIR/redis.pid")" 2>/dev/null; fi
if [ -f "$DIR/pg/postmaster.pid" ]; then
  PID=$(head -1 "$DIR/pg/postmaster.pid")
  kill -INT "$PID" 2>/dev/null   # fast shutdown
  for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null
fi
for _ in $(seq 20); do [ -f "$DIR/redis.pid" ] && kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null || break; sleep 0.1; done
rm -rf "$DIR"
echo "test servers stopped ($DIR)"
