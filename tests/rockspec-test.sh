#!/usr/bin/env bash
# Checks the rockspec: it names every module under lua/pikku, and `luarocks make` installs them offline.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
for f in lua/pikku/*.lua; do
  m="$(basename "$f" .lua)"
  grep -q "\"lua/pikku/$m.lua\"" rockspec/pikku-scm-1.rockspec || { echo "not in the rockspec: $f"; missing=1; }
done
[ "$missing" = 0 ] || exit 1
command -v luarocks >/dev/null || { echo "luarocks not installed (tests/install-deps.sh installs it)"; exit 1; }
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
luarocks --lua-version 5.1 make --tree "$tree" rockspec/pikku-scm-1.rockspec >"$tree/make.log" 2>&1 || { cat "$tree/make.log"; exit 1; }
for f in lua/pikku/*.lua; do
  m="$(basename "$f" .lua)"
  [ -f "$tree/share/lua/5.1/pikku/$m.lua" ] || [ "$m" = init -a -f "$tree/share/lua/5.1/pikku/init.lua" ] \
    || { echo "luarocks did not install $f"; exit 1; }
done
echo "rockspec: $(ls lua/pikku/*.lua | wc -l) modules installed by luarocks make"
