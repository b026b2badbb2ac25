#!/usr/bin/env bash
# Builds the browser demo: rdarts-web compiled to wasm32, bound with wasm-bindgen into web/www/pkg/.
# Installs what it needs first: the wasm32 target (rustup) and wasm-bindgen-cli at exactly the
# version in Cargo.lock (cargo install, cached under $RDARTS_TOOLS, default ~/.cache/rdarts-tools).
# Serve the page afterwards with:  python3 -m http.server -d web/www 8000
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${RDARTS_TOOLS:-$HOME/.cache/rdarts-tools}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$version" ]; then echo "web/build.sh: no wasm-bindgen version in Cargo.lock" >&2; exit 1; fi
bindgen="$TOOLS/bin/wasm-bindgen"
if [ ! -x "$bindgen" ] || [ "$("$bindgen" --version | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version into $TOOLS (a few minutes, once)"
  # No --locked: a yanked transitive pin in its lock file makes that fail. Only the wasm-bindgen
  # binary, without the TLS stack its test runner downloads with (rustls; ring's C and assembly):
  # 198 s against 239 s on 2 cores. Built at opt-level 0 but for the crates that parse, hold and
  # write the module (walrus, wasmparser, id-arena) at 1: a tool built once and run once per build,
  # whose output does not depend on it (the same bytes); 79 s to build and 5.0 s to bind the demo,
  # against 146 s and 3.7 s at release's opt-level 3 (BENCHMARKS.md, 2026-12-03 (night)).
  optimised=()
  for crate in walrus wasmparser id-arena; do optimised+=(--config "profile.release.package.$crate.opt-level=1"); done
  cargo --config profile.release.opt-level=0 "${optimised[@]}" install wasm-bindgen-cli --version "$version" \
    --root "$TOOLS" --quiet --no-default-features --bin wasm-bindgen
fi

cargo build -p rdarts-web --target wasm32-unknown-unknown --profile wasm
"$bindgen" --target web --no-typescript --out-dir web/www/pkg \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm/rdarts_web.wasm"

wasm=web/www/pkg/rdarts_web_bg.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
page=$(cat web/www/*.html web/www/*.js web/www/*.css web/www/pkg/*.js | gzip -9 | wc -c)
echo "web/www/pkg: wasm $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped; page and glue $((page / 1024)) KiB gzipped"
# The size budget the README states: what a browser transfers, compressed.
budget=$((7 * 1024 * 1024))
if [ $((gz + page)) -gt $budget ]; then
  echo "web/build.sh: the demo transfers $(((gz + page) / 1024)) KiB gzipped, over its budget of $((budget / 1024)) KiB" >&2
  exit 1
fi
