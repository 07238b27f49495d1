#!/usr/bin/env bash
# FerretDB (MongoDB wire protocol on SQLite or PostgreSQL), built from the Go module proxy into .tools/ferretdb/.
# `go install` builds a binary that panics at start (the module lacks build/version/version.txt), so it is built
# from the module's files with that file added. Pure Go: no cgo, no system library. About 2.5 minutes the first time.
set -euo pipefail
version=v1.24.2
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
if [ -x "$out/ferretdb" ] && "$out/ferretdb" --version 2>/dev/null | grep -q "$version"; then exit 0; fi
if ! command -v go >/dev/null; then echo "make: no Go toolchain here; the FerretDB suites skip"; exit 0; fi
echo "make: building FerretDB $version from the Go module proxy into $out"
dir=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir"/. "$work"
chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
mkdir -p "$out"
(cd "$work" && CGO_ENABLED=0 go build -o "$out/ferretdb.tmp" ./cmd/ferretdb)
mv "$out/ferretdb.tmp" "$out/ferretdb"
