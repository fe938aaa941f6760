#!/usr/bin/env bash
# Runs a command with the test servers' settings (DIR/env from start.sh: REDIS_URL, DATABASE_URL) exported.
set -euo pipefail
DIR="${1:?usage: with-env.sh DIR command...}"
shift
set -a
. "$DIR/env"
set +a
exec "$@"
