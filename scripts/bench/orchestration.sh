#!/usr/bin/env bash
# Orchestration figures of issue 5, medians over trials on a 3-host lab of
# real agents (internal/lab/cmd/orchbench): a 10-replica Deployment applied
# until all pods are ready; a host failure (link cut; agent and containers
# killed) until its replicas are ready elsewhere. Scheduler throughput at
# 1,000 nodes comes from the Go benchmark. Nomad, Swarm and Kubernetes
# anchors cannot be installed here and are quoted from the issue.
# Usage (root): scripts/bench/orchestration.sh [TRIALS]
set -euo pipefail
export BENCH=${BENCH:-/tmp/kedge-bench-orch}
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "orchestration.sh: run as root" >&2; exit 1; }
rm -rf "$BENCH" && mkdir -p "$BENCH"
install_deps
log "building kedge and the busybox image"
build_kedge
busybox_image
(cd "$ROOT" && go run ./internal/lab/cmd/orchbench --binary "$KEDGE" --image "$BENCH/busybox.tar" --trials "${1:-10}")
log "scheduler throughput at 1,000 nodes, one core"
(cd "$ROOT" && GOMAXPROCS=1 go test -run '^$' -bench 'BenchmarkSchedule1000Nodes$' -benchtime 3x -cpu 1 ./cluster/scheduler | grep -E 'Benchmark|placements')
echo "(target > 20,000 placements/s; Nomad's C1M ~3,750/s across 5 servers, quoted)"
