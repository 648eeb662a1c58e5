#!/usr/bin/env bash
# Runs every Kedge test on a Debian machine as root, installing what the tests
# need first. CI runs exactly this (see .ci/run). Needs Go >= 1.26 (with gcc
# for -race); the shipped binary itself needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go="1.26"
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
	echo "test.sh: Go $need_go or newer is required (Debian's packaged Go is too old): https://go.dev/dl/" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have" | sort -V | head -1)" != "$need_go" ]; then
	echo "test.sh: Go $need_go or newer is required, found $have" >&2
	exit 1
fi

# Test dependencies from Debian: busybox-static builds the test image; gcc
# serves -race; file checks the binary is static; chromium runs the status
# page's browser test; iproute2 makes the lab's network namespaces;
# containernetworking-plugins (the standard bridge, host-local ... in
# /usr/lib/cni) drives the third-party CNI network tests.
pkgs=(busybox-static gcc libc6-dev file chromium iproute2 containernetworking-plugins)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test.sh: run as root to install ${missing[*]}" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

go mod download

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "== go vet"
go vet ./...
echo "== cross builds (darwin, arm64, arm)"
GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 go build ./...
GOARCH=arm64 CGO_ENABLED=0 go build ./...
GOARCH=arm CGO_ENABLED=0 go build ./...
echo "== static binary"
CGO_ENABLED=0 go build -o /tmp/kedge-test-bin .
file /tmp/kedge-test-bin | grep -q "statically linked" || { echo "kedge is not statically linked" >&2; exit 1; }
rm -f /tmp/kedge-test-bin
echo "== go test -race"
go test -race -count=1 -p 2 -timeout 40m ./... 2>&1 | tee /tmp/kedge-test.log
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/kedge-test.log || true)
failed=$(grep -c '^FAIL' /tmp/kedge-test.log || true)
echo "packages: $passed passed, $failed failed"
exit "$status"
