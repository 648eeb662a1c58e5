#!/usr/bin/env bash
# Networking figures, kedge and Docker side by side in one run:
#   1. `run --rm --network bridge busybox true`: kedge vs Docker on its default
#      bridge, median of 20 (hyperfine), teardown included;
#   2. what bridge costs kedge over --network none (medians of the same run);
#   3. throughput through a published port into a container from another
#      network namespace (an "outside machine"), median of 5 transfers.
# Docker runs in its own network namespace (its bridge and iptables rules stay
# there, userland proxy left at its default: on, which traffic from another
# machine never goes through) and is reached by its own client netns through a
# veth pair; kedge's client netns is wired by another veth pair to the root
# netns, where the agent publishes its ports. Nothing is left behind.
# Usage (root): scripts/bench/net.sh [--no-docker]
set -euo pipefail
BENCH=${BENCH:-/tmp/kedge-bench-net}
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "net.sh: run as root" >&2; exit 1; }
with_docker=1
[ "${1:-}" = "--no-docker" ] && with_docker=0

RUNS=${RUNS:-20}       # hyperfine runs per command
XFERS=${XFERS:-5}      # transfers per engine
XFER_MB=${XFER_MB:-2000} # MB (10^6 bytes) per transfer
HOSTPORT=15201 CPORT=5201

# Names of this run: network namespaces and veth pairs.
tag="kbn$$"
NS_KC="${tag}kc"  # kedge's client (the outside machine)
NS_D="${tag}d"    # dockerd and its containers
NS_DC="${tag}dc"  # Docker's client
VK0="${tag}k0" VK1="${tag}k1" VD0="${tag}d0" VD1="${tag}d1"
K_HOST=10.231.1.1 K_CLI=10.231.1.2 D_HOST=10.231.2.1 D_CLI=10.231.2.2
KEY=$(printf %s "$BENCH/data" | sha256sum | cut -c1-10) # kedge's AgentKey of the data dir

net_cleanup() {
	local rc=$?
	set +e
	cleanup # lib.sh: containers, agent (it removes its idle bridge and table), dockerd
	# dockerd's managed containerd and shims, should any outlive it.
	for p in $(pgrep -f -- "$BENCH/docker" 2>/dev/null); do kill "$p" 2>/dev/null; done
	for ns in "$NS_KC" "$NS_DC" "$NS_D"; do
		ip netns pids "$ns" 2>/dev/null | while read -r p; do kill "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	ip link del "$VK0" 2>/dev/null
	# What the agent would have removed at a clean shutdown.
	ip link show "kb-$KEY" >/dev/null 2>&1 && { log "removing leftover bridge kb-$KEY"; ip link del "kb-$KEY"; }
	nft list table ip "kedge-$KEY" >/dev/null 2>&1 && { log "removing leftover table kedge-$KEY"; nft delete table ip "kedge-$KEY"; }
	if grep -q " $BENCH" /proc/mounts; then
		log "mounts left under $BENCH:"; grep " $BENCH" /proc/mounts >&2
		awk -v b="$BENCH" '$2 ~ "^"b {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	fi
	grep -q " $BENCH" /proc/mounts || rm -rf "$BENCH"
	# Docker's cgroups (its --cgroup-parent) and the agent's, once empty.
	find /sys/fs/cgroup -depth -type d \( -path "*/$tag-docker*" -o -path "*/kedge-$KEY*" \) -exec rmdir {} + 2>/dev/null
	rmdir "/run/kedge/$KEY/netns" "/run/kedge/$KEY" 2>/dev/null
	exit "$rc"
}

# median_of FILE: the median of the numbers in FILE, one a line.
median_of() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR+1)/2]; else printf "%.1f", (a[NR/2]+a[NR/2+1])/2}'; }

# tp is a static sink and source (bind-mounted into the containers, which
# have only busybox, and run in the client netns): busybox's nc has no -k and
# its pipe from dd costs as much as the path being measured.
build_tp() {
	mkdir -p "$BENCH/tp"
	cat >"$BENCH/tp/main.go" <<'GO'
// tp sink PORT | tp send HOST:PORT MB: a TCP sink that discards what it
// reads (any number of connections), and a source that sends MB megabytes of
// zeros, half-closes and waits for the sink to close; it prints MB/s.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "sink" {
		l, err := net.Listen("tcp", ":"+os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				continue
			}
			go func() {
				buf := make([]byte, 1<<20)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}
	if len(os.Args) != 4 || os.Args[1] != "send" {
		fmt.Fprintln(os.Stderr, "usage: tp sink PORT | tp send HOST:PORT MB")
		os.Exit(2)
	}
	mb, _ := strconv.Atoi(os.Args[3])
	var c net.Conn
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err = net.DialTimeout("tcp", os.Args[2], 2*time.Second); err == nil || time.Now().After(deadline) || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 1<<20)
	total := int64(mb) * 1000000
	t0 := time.Now()
	for left := total; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		w, err := c.Write(buf[:n])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		left -= int64(w)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c) // the sink closes once it has read everything
	fmt.Printf("%.0f\n", float64(total)/1e6/time.Since(t0).Seconds())
}
GO
	(cd "$BENCH/tp" && CGO_ENABLED=0 GOFLAGS= GO111MODULE=on go build -o "$BENCH/tp/tp" main.go)
}

# veth_ns PEER_NS HOST_SIDE_NS LINK0 LINK1 ADDR0 ADDR1: a /24 veth pair,
# LINK0 (ADDR0) in HOST_SIDE_NS ("" for the root netns), LINK1 (ADDR1) in PEER_NS.
veth_ns() {
	local peer=$1 side=$2 l0=$3 l1=$4 a0=$5 a1=$6
	ip link add "$l0" type veth peer name "$l1" netns "$peer"
	[ -n "$side" ] && ip link set "$l0" netns "$side"
	ipx() { if [ -n "$side" ]; then ip -n "$side" "$@"; else ip "$@"; fi; }
	ipx addr add "$a0/24" dev "$l0" && ipx link set "$l0" up
	ip -n "$peer" addr add "$a1/24" dev "$l1"
	ip -n "$peer" link set "$l1" up
	ip -n "$peer" link set lo up
}

rm -rf "$BENCH" && mkdir -p "$BENCH"
trap net_cleanup EXIT
trap 'exit 130' INT TERM
install_deps
[ $with_docker = 1 ] && { install_deps docker.io iptables || with_docker=0; }
log "building kedge, the busybox image and the throughput tool"
build_kedge
busybox_image
build_tp
start_agent
kedge_ image import "$BENCH/busybox.tar" >/dev/null

ip netns add "$NS_KC"
veth_ns "$NS_KC" "" "$VK0" "$VK1" "$K_HOST" "$K_CLI"

docker_ok=0
if [ $with_docker = 1 ]; then
	ip netns add "$NS_D" && ip netns add "$NS_DC"
	ip -n "$NS_D" link set lo up
	veth_ns "$NS_DC" "$NS_D" "$VD0" "$VD1" "$D_HOST" "$D_CLI"
	if start_docker_netns "$NS_D" --cgroup-parent "/$tag-docker"; then
		docker_ load -i "$BENCH/busybox.tar" >/dev/null && docker_ok=1
	fi
	[ $docker_ok = 1 ] || log "Docker is not runnable here: quoting the anchors"
fi

log "1+2. run --rm true, median of $RUNS runs"
hf() { hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$1" "$2" >&2; }
hf "$BENCH/kedge-bridge.json" "$KEDGE -H $KSOCK run --rm --network bridge busybox:bench true"
hf "$BENCH/kedge-none.json" "$KEDGE -H $KSOCK run --rm --network none busybox:bench true"
kb=$(median_ms "$BENCH/kedge-bridge.json"); kn=$(median_ms "$BENCH/kedge-none.json")
# Anchors when Docker cannot run: Docker 20.10 (Debian docker.io) as this
# script measured it on a 2-core Debian 12 VM, kernel 6.18 (2026-11-27).
db=326 dnote="not runnable here: anchor" dtp=2281 dtpnote="not runnable here: anchor"
if [ $docker_ok = 1 ]; then
	hf "$BENCH/docker-bridge.json" "/usr/bin/docker -H unix://$DSOCK run --rm busybox:bench true"
	db=$(median_ms "$BENCH/docker-bridge.json"); dnote="measured"
fi

log "3. published-port throughput from another netns, $XFERS x $XFER_MB MB"
kedge_ run -d --name sink --network bridge -p "$HOSTPORT:$CPORT" -v "$BENCH/tp:/tp:ro" busybox:bench /tp/tp sink "$CPORT" >/dev/null
if [ $docker_ok = 1 ]; then
	docker_ run -d --name sink -p "$HOSTPORT:$CPORT" -v "$BENCH/tp:/tp:ro" busybox:bench /tp/tp sink "$CPORT" >/dev/null
fi
: >"$BENCH/tp-kedge" && : >"$BENCH/tp-docker"
# one transfer not counted each, then alternate so that drift hits both
ip netns exec "$NS_KC" "$BENCH/tp/tp" send "$K_HOST:$HOSTPORT" 200 >/dev/null
[ $docker_ok = 1 ] && ip netns exec "$NS_DC" "$BENCH/tp/tp" send "$D_HOST:$HOSTPORT" 200 >/dev/null
for i in $(seq "$XFERS"); do
	ip netns exec "$NS_KC" "$BENCH/tp/tp" send "$K_HOST:$HOSTPORT" "$XFER_MB" >>"$BENCH/tp-kedge"
	[ $docker_ok = 1 ] && ip netns exec "$NS_DC" "$BENCH/tp/tp" send "$D_HOST:$HOSTPORT" "$XFER_MB" >>"$BENCH/tp-docker"
	log "transfer $i: kedge $(tail -1 "$BENCH/tp-kedge") MB/s$( [ $docker_ok = 1 ] && echo " | docker $(tail -1 "$BENCH/tp-docker") MB/s")"
done
ktp=$(median_of "$BENCH/tp-kedge")
if [ $docker_ok = 1 ]; then dtp=$(median_of "$BENCH/tp-docker"); dtpnote="measured"; fi

cat <<REPORT

Kedge networking figures ($(date -u +%F), $(nproc) cores, kernel $(uname -r))
run --rm --network bridge true, median of $RUNS: kedge $(printf %.1f "$kb") ms | docker $(printf %.1f "$db") ms (${dnote}); kedge/docker = $(ratio "$kb" "$db") (target <= 0.25)
bridge over none for kedge: +$(awk -v a="$kb" -v b="$kn" 'BEGIN{printf "%.1f", a-b}') ms ($(printf %.1f "$kb") - $(printf %.1f "$kn") ms; target < 10 ms)
published-port throughput from another netns, median of $XFERS x $XFER_MB MB: kedge ${ktp} MB/s | docker ${dtp} MB/s (${dtpnote}); kedge/docker = $(ratio "$ktp" "$dtp") (target >= 1.0)
REPORT
