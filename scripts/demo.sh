#!/usr/bin/env bash
# Builds the static kedge binary and runs the demo: an agent, an image made of
# the binary itself, and a container serving a small page. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "demo.sh: Go 1.26 or newer is required: https://go.dev/dl/" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (containers need it)" >&2; exit 1; }
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X kedge/cli.version=$version -X kedge/cli.commit=$commit" -o kedge .
exec ./kedge demo "$@"
