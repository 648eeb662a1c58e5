#!/usr/bin/env bash
# Cluster figures of issue 4, medians over 10 trials on a lab of real
# agents in network namespaces (internal/lab): kill -9 of the leader until
# the next write; kill -9 of a node until all others see it down; join until
# ready on all nodes; a voter's idle RSS. Swarm, memberlist-default and Nomad
# anchors cannot be installed here and are quoted from the issue.
# Usage (root): scripts/bench/cluster.sh [TRIALS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "cluster.sh: run as root" >&2; exit 1; }
BENCH=${BENCH:-/tmp/kedge-bench-cluster}
KEDGE="$BENCH/kedge"
rm -rf "$BENCH" && mkdir -p "$BENCH"
log "building kedge"
build_kedge
(cd "$ROOT" && go run ./internal/lab/cmd/clusterbench --binary "$KEDGE" --trials "${1:-10}")
