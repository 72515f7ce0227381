#!/usr/bin/env bash
# Installs, at pinned versions, every tool the tests use: registry clients (crane, oras, skopeo), Jaeger,
# the OCI conformance suite, Chromium for the browser tests, and the dashboard's npm packages.
# Go tools go to tools/bin; Debian packages through apt (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$PWD/tools/bin"
mkdir -p "$BIN"

go_tool() { # name module@version
  if [ ! -x "$BIN/$1" ] || [ "$(cat "$BIN/.$1.version" 2>/dev/null)" != "$2" ]; then
    echo "tools: installing $2"
    GOBIN="$BIN" go install "$2"
    echo "$2" > "$BIN/.$1.version"
  fi
}
go_tool crane github.com/google/go-containerregistry/cmd/crane@v0.22.1
go_tool oras oras.land/oras/cmd/oras@v1.3.6
# cosign signs images in the signature tests (offline: keys from files, no transparency log). A
# large build (several CPU minutes); built once and reused.
go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
# Distribution's own registry, same version as go.mod: the baseline of `make bench-pull`.
go_tool registry github.com/distribution/distribution/v3/cmd/registry@v3.1.2
go_tool conformance github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
# Jaeger all-in-one: the tracing tests send OTLP to it and read the traces back through its query API.
# Its module carries replace directives, which `go install module@version` refuses, so it is built
# from a throwaway module that requires it as a tool. A large build (several CPU minutes); built
# once and reused.
jaeger=github.com/jaegertracing/jaeger/cmd/jaeger@v1.75.0
if [ ! -x "$BIN/jaeger" ] || [ "$(cat "$BIN/.jaeger.version" 2>/dev/null)" != "$jaeger" ]; then
  echo "tools: installing $jaeger"
  mod="$(mktemp -d)"
  (cd "$mod" && go mod init tools/jaeger >/dev/null 2>&1 && go get -tool "$jaeger" &&
    go build -o "$BIN/jaeger" "${jaeger%@*}")
  rm -rf "$mod"
  echo "$jaeger" > "$BIN/.jaeger.version"
fi

# SeaweedFS: the S3-compatible object store the storage tests and `make bench-s3` run Berth against.
# Its module carries replace directives, which `go install` refuses, and its main package is not
# importable as a tool, so the module is downloaded and ./weed built inside a writable copy of it.
# A large build (about six CPU minutes); built once and reused.
weed=github.com/seaweedfs/seaweedfs@v0.0.0-20261109003541-7506e5f91cd6
if [ ! -x "$BIN/weed" ] || [ "$(cat "$BIN/.weed.version" 2>/dev/null)" != "$weed" ]; then
  echo "tools: installing $weed"
  src="$(mktemp -d)"
  dir="$(cd "$src" && go mod download -json "$weed" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] || { echo "tools: could not download $weed" >&2; exit 1; }
  cp -a "$dir/." "$src/"
  chmod -R u+w "$src"
  (cd "$src" && go build -trimpath -o "$BIN/weed" ./weed) # -trimpath: the build cache serves the next fresh clone
  rm -rf "$src"
  echo "$weed" > "$BIN/.weed.version"
fi

apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v skopeo >/dev/null 2>&1 || apt_packages+=(skopeo)
command -v pg_isready >/dev/null 2>&1 || apt_packages+=(postgresql-client)
# The cache tier's tests run a private redis-server they can kill; `make test` also starts the shared one.
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "tools: installing ${apt_packages[*]} from Debian"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
