#!/usr/bin/env bash
# A server that is a Go module, built from the Go module proxy: build-module.sh OUT_BINARY MODULE VERSION PACKAGE
# [FILE=TEXT]. `go install` does not do for these (FerretDB's module lacks a file its binary reads at start;
# SeaweedFS's go.mod has a replace directive), so the module's files are copied, FILE written with TEXT when given,
# and PACKAGE built without cgo. Nothing happens when OUT_BINARY was built from that version already.
set -euo pipefail
out=$(realpath -m "${1:?usage: build-module.sh OUT_BINARY MODULE VERSION PACKAGE [FILE=TEXT]}")
module=$2 version=$3 package=$4 extra=${5:-}
name=$(basename "$out")
if [ -x "$out" ] && [ "$(cat "$out.version" 2>/dev/null)" = "$version" ]; then exit 0; fi
if ! command -v go >/dev/null; then echo "make: no Go toolchain here; the $name suites skip"; exit 0; fi
echo "make: building $name ($module $version) from the Go module proxy into $out"
dir=$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir"/. "$work"
chmod -R u+w "$work"
if [ -n "$extra" ]; then echo "${extra#*=}" > "$work/${extra%%=*}"; fi
mkdir -p "$(dirname "$out")"
(cd "$work" && CGO_ENABLED=0 go build -o "$out.tmp" "$package")
mv "$out.tmp" "$out"
echo "$version" > "$out.version"
