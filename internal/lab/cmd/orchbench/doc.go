// Command orchbench measures the orchestration figures on a lab of real
// agents (scripts/bench/orchestration.sh runs it): a 10-replica Deployment
// applied until every pod runs and is ready, and a host failure until its
// replicas run and are ready elsewhere, for a cut link and for a killed
// host, as medians over several trials.
package main
