#!/usr/bin/env bash
# compose-loadcheck: Docker Compose's own loader (github.com/compose-spec/compose-go/v2, from the Go module proxy)
# in a small program that loads docker-compose.yml as `docker compose` would and prints the project as JSON.
set -euo pipefail
src=$(dirname "$(realpath "$0")")/loadcheck
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
if [ -x "$out/compose-loadcheck" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then exit 0; fi
if ! command -v go >/dev/null; then echo "make: no Go toolchain here; the compose file check skips"; exit 0; fi
echo "make: building the Compose loader check from the Go module proxy into $out"
mkdir -p "$out"
(cd "$src" && CGO_ENABLED=0 go build -o "$out/compose-loadcheck.tmp" .)
mv "$out/compose-loadcheck.tmp" "$out/compose-loadcheck"
echo "$stamp" > "$out/stamp"
