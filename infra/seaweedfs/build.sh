#!/usr/bin/env bash
# SeaweedFS (an S3-compatible server, Apache-2.0), built from the Go module proxy into .tools/seaweedfs/.
# `go install` is refused (its go.mod has a replace directive), so it is built from the module's files.
# About 5 minutes and 230 MB the first time.
set -euo pipefail
version=v0.0.0-20261109003541-7506e5f91cd6
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
if [ -x "$out/weed" ] && [ "$(cat "$out/version" 2>/dev/null)" = "$version" ]; then exit 0; fi
if ! command -v go >/dev/null; then echo "make: no Go toolchain here; the S3 suites skip"; exit 0; fi
echo "make: building SeaweedFS $version from the Go module proxy into $out"
dir=$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir"/. "$work"
chmod -R u+w "$work"
mkdir -p "$out"
(cd "$work" && CGO_ENABLED=0 go build -o "$out/weed.tmp" ./weed)
mv "$out/weed.tmp" "$out/weed"
echo "$version" > "$out/version"
