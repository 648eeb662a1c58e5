// Command clusterbench measures the cluster figures on a lab of real agents
// (scripts/bench/cluster.sh runs it): leader failover, failure detection,
// join until ready everywhere, and a voter's idle RSS, as medians over
// several trials.
package main
