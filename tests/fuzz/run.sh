#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on its seeds.
#   tests/fuzz/run.sh [SECONDS per target, default 20]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECS="${1:-20}"
LLHTTP="${LLHTTP_SRC_DIR:-/usr/share/llhttp}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
CC=(clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
    -I"$ROOT/core/src" -I"$ROOT/core/include" -I/usr/share/include/llhttp -DLLHTTP_STRICT_MODE=1 -DPIKKU_VERSION='"fuzz"' -w)
LL=("$LLHTTP/llhttp.c" "$LLHTTP/api.c" "$LLHTTP/http.c")
S="$ROOT/core/src"
"${CC[@]}" -o "$OUT/http" "$ROOT/tests/fuzz/fuzz_http_parser.c" "$S/http_parser.c" "$S/request_target.c" "$S/input_budget.c" "$S/multipart.c" "$S/buf.c" "$S/utf8.c" "${LL[@]}"
"${CC[@]}" -o "$OUT/ws" "$ROOT/tests/fuzz/fuzz_ws_frame.c" "$S/ws_frame.c" "$S/input_budget.c" "$S/ws_deflate.c" "$S/utf8.c" "$S/buf.c" -lz
"${CC[@]}" -o "$OUT/router" "$ROOT/tests/fuzz/fuzz_router.c" "$S/router.c"
"${CC[@]}" $(pkg-config --cflags luajit) -o "$OUT/json" "$ROOT/tests/fuzz/fuzz_json.c" "$S/lua_json.c" "$S/json_decode.c" "$S/utf8.c" \
  "$S/json_encode.c" "$S/json_encode_view.c" "$S/lj_view.c" \
  "$S/buf.c" $(pkg-config --libs luajit) -lm
"${CC[@]}" $(pkg-config --cflags luajit) -o "$OUT/pattern" "$ROOT/tests/fuzz/fuzz_pattern.c" "$S/schema_pattern.c" \
  "$S/schema_check.c" "$S/utf8.c" $(pkg-config --libs luajit)
"${CC[@]}" -o "$OUT/cron" "$ROOT/tests/fuzz/fuzz_cron.c" "$S/cron.c" "$S/tzfile.c"
"${CC[@]}" -o "$OUT/path" "$ROOT/tests/fuzz/fuzz_path_normalize.c" "$S/path_normalize.c" "$S/buf.c" "$S/utf8.c"
"${CC[@]}" -o "$OUT/multipart" "$ROOT/tests/fuzz/fuzz_multipart.c" "$S/multipart.c" "$S/buf.c" "$S/utf8.c"
"${CC[@]}" $(pkg-config --cflags luajit) -o "$OUT/schema" "$ROOT/tests/fuzz/fuzz_schema_decode.c" "$S/lua_schema.c" \
  "$S/schema_validate.c" "$S/schema_check.c" "$S/schema_pattern.c" "$S/schema_decode.c" "$S/schema_ctor.c" "$S/json_number.c" \
  "$S/lua_json.c" "$S/json_decode.c" "$S/json_encode.c" "$S/json_encode_view.c" "$S/lj_view.c" "$S/utf8.c" "$S/buf.c" \
  $(pkg-config --libs luajit) -lm
for t in http ws router json pattern schema cron path multipart; do
  mkdir -p "$OUT/corpus-$t"
  cp "$ROOT/tests/fuzz/seeds/$t/"* "$OUT/corpus-$t/" 2>/dev/null || true
  echo "fuzzing $t for ${SECS}s"
  "$OUT/$t" -max_total_time="$SECS" -rss_limit_mb=1024 -print_final_stats=1 "$OUT/corpus-$t" 2>"$OUT/$t.log" \
    || { tail -40 "$OUT/$t.log"; echo "fuzz target $t failed"; exit 1; }
  grep -E 'stat::number_of_executed_units|Done' "$OUT/$t.log" | tail -2
done
echo "fuzzing: no crash in 9 targets"
