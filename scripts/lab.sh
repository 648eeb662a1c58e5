#!/usr/bin/env bash
# lab.sh: a multi-host kedge lab on this machine, made of network namespaces
# (see internal/lab). Every host runs the real kedge agent in its own netns
# with its own data dir, run dir and API socket; faults are kill -9, SIGSTOP,
# link cut and nftables partitions. Needs root and Go (it builds
# internal/lab/cmd/lab, and kedge unless --binary is given). The lab's state
# lives in $KEDGE_LAB_DIR (default /tmp/kedge-lab), so every command works
# from any shell.
#
#   lab.sh up N [--binary PATH] [--subnet CIDR] [--no-agents] [-- AGENT-ARGS...]
#   lab.sh down | ls | heal-partition
#   lab.sh gc                       # close labs that killed test binaries left
#   lab.sh start H [AGENT-ARGS...] | stop H
#   lab.sh kill H [--supervisors | --all]
#   lab.sh pause H | resume H | cut H | heal H | ip H | logs H
#   lab.sh partition 1,2 3          # {h1,h2} and {h3} cannot reach each other
#   lab.sh exec H CMD [ARGS...]     # e.g. lab.sh exec 1 kedge ps
#
# H is a host number (1), name (h1) or netns name. AGENT-ARGS may use {name},
# {n}, {ip}, {dir} and {socket}, expanded per host: -- --advertise {ip}.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
dir=${KEDGE_LAB_DIR:-/tmp/kedge-lab}
export KEDGE_LAB_DIR="$dir"

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

if [ $# -eq 0 ] || [ "$1" = help ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, nftables, mounts)"
command -v go >/dev/null || die "Go is needed to build the lab tool"

# The lab tool, rebuilt when its sources change (go build is a no-op then).
ctl="${XDG_CACHE_HOME:-$HOME/.cache}/kedge/labctl"
mkdir -p "$(dirname "$ctl")"
(cd "$repo" && CGO_ENABLED=0 go build -o "$ctl" ./internal/lab/cmd/lab) || die "build the lab tool"

if [ "$1" = up ]; then
	have_binary=false
	for a in "${@:2}"; do
		[ "$a" = -- ] && break
		[ "$a" = --binary ] && have_binary=true
	done
	if ! $have_binary; then
		if [ -e "$dir/state.json" ]; then die "a lab is up in $dir: lab.sh down first"; fi
		mkdir -p "$dir"
		echo "building kedge into $dir/kedge" >&2
		(cd "$repo" && CGO_ENABLED=0 go build -o "$dir/kedge" .) || die "build kedge"
		shift
		set -- up --binary "$dir/kedge" "$@"
	fi
fi

exec "$ctl" --dir "$dir" "$@"
