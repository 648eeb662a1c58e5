// Package lab builds a multi-host Kedge lab on one Linux machine for cluster
// tests and benchmarks: N "hosts" made of network namespaces, each running
// the real kedge binary with its own data dir, run dir and API socket, plus
// fault controls (kill -9, pause, link cut, partitions).
//
// # Topology
//
// A lab with id kl1a2b (the prefix of every name it creates) has a switch
// namespace /run/netns/kl1a2b-sw holding the bridge kl1a2b-br and one veth
// port per host (kl1a2b-h1, kl1a2b-h2, ...). The peer of each port is eth0 in
// the host's namespace /run/netns/kl1a2b-hN, with the address .(10+N) of the
// lab's /24 (by default a free one in 10.200.0.0/13), loopback up and a
// default route via the bridge's address .1. Nothing is created in the root
// namespace, so the root's firewall (Docker's FORWARD policy, br_netfilter)
// does not see the lab's traffic, and the hosts do not reach the outside.
//
// # Processes
//
// A process enters a host by being forked from an OS thread that was
// switched into the host's network namespace with setns(2) (pure Go; no
// `ip netns exec`, no nsenter). It stays in the root mount namespace: the
// agent's mounts are visible to tests and to Close, /sys is the root's (so
// /sys/class/net does not list the host's links; netlink does).
//
// # Faults
//
// Host.Kill9, Host.KillSupervisors and Host.Crash kill processes, Host.Pause
// and Host.Resume send SIGSTOP and SIGCONT to the agent, Host.Cut and
// Host.Heal set the host's bridge port down and up, and Lab.Partition drops
// traffic between groups of hosts with a bridge-family nftables table
// "kedgelab" in the switch namespace (github.com/google/nftables; no nft or
// iptables binary needed).
//
// # State
//
// The lab keeps state.json in its directory, so Open can drive a lab from
// another process (scripts/lab.sh uses internal/lab/cmd/lab). Close kills
// every process of the lab (agents, supervisors, containers of the hosts'
// data dirs, anything in the hosts' namespaces), unmounts what is mounted
// under the lab's directory, removes the hosts' cgroups, links, namespaces
// and the directory. A lab whose test binary was killed (a -timeout panic)
// cannot close itself: CloseStale (lab.sh gc) closes the labs of dead
// processes.
//
// The package is Linux-only; it needs root.
package lab
