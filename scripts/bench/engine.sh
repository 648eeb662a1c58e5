#!/usr/bin/env bash
# Engine figures of issue 2, side by side in one run:
#   1. `kedge run --rm IMAGE true` vs `runc run` of the same busybox bundle vs
#      `docker run --rm --network none` (Debian's docker.io), median of 20;
#   2. idle agent RSS and supervisor RSS per container vs dockerd+containerd
#      and containerd-shim; the binary's size;
#   3. 50 containers started with -d at once: time until all run, vs Docker.
# Usage (root): scripts/bench/engine.sh [--no-docker]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "engine.sh: run as root" >&2; exit 1; }
with_docker=1
[ "${1:-}" = "--no-docker" ] && with_docker=0

rm -rf "$BENCH" && mkdir -p "$BENCH"
trap cleanup EXIT
install_deps
[ $with_docker = 1 ] && { install_deps docker.io || with_docker=0; }
log "building kedge and the busybox image"
build_kedge
busybox_image
start_agent
kedge_ image import "$BENCH/busybox.tar" >/dev/null

# runc bundle with the same rootfs, running `true`.
mkdir -p "$BENCH/bundle" && cp -a "$BENCH/rootfs" "$BENCH/bundle/rootfs"
(cd "$BENCH/bundle" && runc spec && jq '.process.args=["true"] | .process.terminal=false' config.json >c && mv c config.json)

docker_ok=0
if [ $with_docker = 1 ] && start_docker; then
	docker_ load -i "$BENCH/busybox.tar" >/dev/null && docker_ok=1
fi

log "1. start latency (median of 20 runs)"
hyperfine -N --warmup 3 --runs 20 --export-json "$BENCH/kedge.json" "$KEDGE -H $KSOCK run --rm --network none busybox:bench true" >&2
hyperfine -N --warmup 3 --runs 20 --export-json "$BENCH/runc.json" "runc --root $BENCH/runc run -b $BENCH/bundle bench" >&2
k=$(median_ms "$BENCH/kedge.json"); r=$(median_ms "$BENCH/runc.json")
if [ $docker_ok = 1 ]; then
	hyperfine -N --warmup 3 --runs 20 --export-json "$BENCH/docker.json" "/usr/bin/docker -H unix://$DSOCK run --rm --network none busybox:bench true" >&2
	d=$(median_ms "$BENCH/docker.json"); dnote="measured"
else
	d=200; dnote="not runnable here: the issue's figure"
fi

log "2. memory and size"
agent_rss=$(rss_kb "$AGENT_PID")
kedge_ run -d --name rss busybox:bench sleep 600 >/dev/null
sleep 3 # an idle supervisor: it gives back its start-up memory after 2 s
shim_pid=$(pgrep -f "__shim.*$(kedge_ inspect rss | jq -r ".[0].id")" | head -1 || true)
shim_rss=$( [ -n "$shim_pid" ] && rss_kb "$shim_pid" || echo 0)
shim_pss=$( [ -n "$shim_pid" ] && pss_kb "$shim_pid" || echo 0)
bin_mb=$(awk -v s="$(stat -c %s "$KEDGE")" 'BEGIN{printf "%.1f", s/1048576}')
docker_rss=125000; shim_ref=13000; dmem_note="the issue's figures"
if [ $docker_ok = 1 ]; then
	c_pid=$(pgrep -x containerd | head -1 || true)
	docker_rss=$(( $(rss_kb "$DOCKERD_PID") + $( [ -n "$c_pid" ] && rss_kb "$c_pid" || echo 0) ))
	docker_ run -d --network none --name rss busybox:bench sleep 600 >/dev/null
	s_pid=$(pgrep -f "containerd-shim.*$(docker_ inspect -f "{{.Id}}" rss)" | head -1 || true)
	[ -n "$s_pid" ] || s_pid=$(pgrep -f containerd-shim | head -1 || true)
	[ -n "$s_pid" ] && shim_ref=$(rss_kb "$s_pid")
	dmem_note="measured"
	docker_ rm -f rss >/dev/null
fi
kedge_ rm -f rss >/dev/null

log "3. 50 containers with -d at once"
t0=$(date +%s.%N)
seq 50 | xargs -P 50 -I{} "$KEDGE" -H "$KSOCK" run -d --network none --name many{} busybox:bench sleep 600 >/dev/null
while [ "$(kedge_ ps -q | wc -l)" -lt 50 ]; do sleep 0.05; done
t1=$(date +%s.%N)
k50=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
kedge_ ps -aq | xargs -r -P 8 -n 10 "$KEDGE" -H "$KSOCK" rm -f >/dev/null
d50=5.7; d50note="the issue's figure"
if [ $docker_ok = 1 ]; then
	t0=$(date +%s.%N)
	seq 50 | xargs -P 50 -I{} /usr/bin/docker -H "unix://$DSOCK" run -d --network none --name many{} busybox:bench sleep 600 >/dev/null
	while [ "$(docker_ ps -q | wc -l)" -lt 50 ]; do sleep 0.05; done
	t1=$(date +%s.%N)
	d50=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}'); d50note="measured"
fi

cat <<REPORT

Kedge engine figures ($(date -u +%F), $(nproc) cores, kernel $(uname -r))
run --rm true, median of 20:  kedge ${k} ms | runc ${r} ms | docker ${d} ms (${dnote})
  kedge/runc = $(ratio "$k" "$r")  (target <= 1.5)    kedge/docker = $(ratio "$k" "$d")  (target <= 0.2)
idle agent RSS:               $((agent_rss / 1024)) MB vs dockerd+containerd $((docker_rss / 1024)) MB (${dmem_note}); ratio $(ratio "$agent_rss" "$docker_rss")  (target < 25 MB)
supervisor RSS per container: $((shim_rss / 1024)).$(( (shim_rss % 1024) * 10 / 1024 )) MB (PSS $((shim_pss / 1024)).$(( (shim_pss % 1024) * 10 / 1024 )) MB) vs containerd-shim $((shim_ref / 1024)) MB; ratio $(ratio "$shim_rss" "$shim_ref")  (target < 8 MB)
binary size:                  ${bin_mb} MB (target < 40 MB)
50 containers -d at once:     kedge ${k50} s | docker ${d50} s (${d50note}); ratio $(ratio "$k50" "$d50")
REPORT
