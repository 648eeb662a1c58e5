# Shared helpers of the benchmark scripts: a busybox image and bundle built
# from the host's busybox-static, a kedge agent and a dockerd in a scratch dir.
# Sourced, not run.

BENCH=${BENCH:-/tmp/kedge-bench}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KEDGE="$BENCH/kedge"
KSOCK="$BENCH/kedge.sock"
DSOCK="$BENCH/docker.sock"

log() { printf '== %s\n' "$*" >&2; }

install_deps() {
	local missing=()
	for p in busybox-static hyperfine runc jq "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# busybox_image writes $BENCH/busybox.tar (docker-save format) and the
# rootfs it is made of, $BENCH/rootfs.
busybox_image() {
	rm -rf "$BENCH/rootfs" "$BENCH/img" && mkdir -p "$BENCH/rootfs"/{bin,etc,tmp,root,proc,sys,dev} "$BENCH/img"
	cp /bin/busybox "$BENCH/rootfs/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$BENCH/rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$BENCH/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$BENCH/rootfs/etc/group"
	chmod 1777 "$BENCH/rootfs/tmp"
	tar -C "$BENCH/rootfs" --numeric-owner --owner=0 --group=0 -cf "$BENCH/img/layer.tar" .
	local diff cfg
	diff=$(sha256sum "$BENCH/img/layer.tar" | cut -d' ' -f1)
	mkdir -p "$BENCH/img/$diff" && mv "$BENCH/img/layer.tar" "$BENCH/img/$diff/layer.tar"
	local arch
	arch=$(go env GOARCH)
	printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$arch" "$diff" >"$BENCH/img/config.json"
	cfg=$(sha256sum "$BENCH/img/config.json" | cut -d' ' -f1)
	mv "$BENCH/img/config.json" "$BENCH/img/$cfg.json"
	printf '[{"Config":"%s.json","RepoTags":["busybox:bench"],"Layers":["%s/layer.tar"]}]' "$cfg" "$diff" >"$BENCH/img/manifest.json"
	tar -C "$BENCH/img" -cf "$BENCH/busybox.tar" .
}

build_kedge() {
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$KEDGE" .)
}

start_agent() {
	"$KEDGE" agent --data-dir "$BENCH/data" --socket "$KSOCK" >"$BENCH/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do [ -S "$KSOCK" ] && "$KEDGE" -H "$KSOCK" version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "agent did not start; see $BENCH/agent.log" >&2
	return 1
}

# start_docker starts a private dockerd that cannot touch kedge's networking.
start_docker() {
	command -v dockerd >/dev/null || return 1
	dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$BENCH/docker" --exec-root "$BENCH/docker-exec" \
		--pidfile "$BENCH/docker.pid" -H "unix://$DSOCK" >"$BENCH/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 150); do /usr/bin/docker -H "unix://$DSOCK" info >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "dockerd did not start; see $BENCH/dockerd.log" >&2
	kill "$DOCKERD_PID" 2>/dev/null
	return 1
}

# start_docker_netns NETNS [DOCKERD-FLAG...] starts a private dockerd inside
# the network namespace NETNS, with its default bridge and iptables (both
# only in NETNS, so the host's and kedge's networking stay untouched). Like
# `ip netns exec`, it runs in a mount namespace of its own (slave of the
# host's: containerd's and the containers' mounts go away with it) with a
# sysfs of NETNS; unlike it, it keeps the host's cgroup mounts, without
# which dockerd does not start. docker_ and cleanup work as with start_docker.
start_docker_netns() {
	local ns=$1
	shift
	command -v dockerd >/dev/null && command -v iptables >/dev/null || return 1
	mkdir -p "$BENCH/cgroup"
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare --mount --propagation slave nsenter --net="/run/netns/$ns" sh -c '
		cg=$1; shift
		mount --rbind /sys/fs/cgroup "$cg" && mount -t sysfs sysfs /sys && mount --rbind "$cg" /sys/fs/cgroup && umount -l "$cg" || exit 1
		exec dockerd "$@"' sh "$BENCH/cgroup" \
		--iptables=true --ip6tables=false --data-root "$BENCH/docker" --exec-root "$BENCH/docker-exec" \
		--pidfile "$BENCH/docker.pid" -H "unix://$DSOCK" "$@" >"$BENCH/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 150); do /usr/bin/docker -H "unix://$DSOCK" info >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "dockerd did not start in netns $ns; $BENCH/dockerd.log ends with:" >&2
	tail -5 "$BENCH/dockerd.log" >&2
	kill "$DOCKERD_PID" 2>/dev/null
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
	return 1
}

docker_() { /usr/bin/docker -H "unix://$DSOCK" "$@"; }
kedge_() { "$KEDGE" -H "$KSOCK" "$@"; }

pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# median_ms FILE: the median of a hyperfine JSON export, in ms.
median_ms() { jq '.results[0].median * 1000' "$1"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

cleanup() {
	set +e
	if [ -n "${AGENT_PID:-}" ]; then
		for id in $(kedge_ ps -aq 2>/dev/null); do kedge_ rm -f "$id" >/dev/null 2>&1; done
		kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
	fi
	if [ -n "${DOCKERD_PID:-}" ]; then
		docker_ ps -aq | xargs -r /usr/bin/docker -H "unix://$DSOCK" rm -f >/dev/null 2>&1
		kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null
	fi
}
