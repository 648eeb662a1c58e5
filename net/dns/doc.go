// Package dns gives containers on a user network name resolution the way
// Docker's embedded 127.0.0.11 server does, and writes every container's
// /etc/resolv.conf.
//
// # The responder
//
// One Server runs per user network, listening on UDP and TCP port 53 of the
// network's gateway address (the bridge's IP), which the containers of that
// network name as their only nameserver:
//
//	container ──query──> Server (gateway:53)
//	                       ├─ A/AAAA for a name Lookup knows ─> answered from Lookup
//	                       ├─ a name Lookup knows, other type ─> NODATA (NOERROR, no answer)
//	                       ├─ unknown name under Domains     ─> NXDOMAIN
//	                       └─ anything else ─> Upstreams in order (UDP, TCP when truncated)
//	                                             all failed ─> SERVFAIL
//
// Lookup is the network's table of container names and aliases (Table is a
// ready, concurrency-safe one). The server never forwards to an address it
// listens on, bounds the work per query (a time budget, a cap on queries in
// flight, messages of at most 64 KiB) and Close stops every goroutine it
// started.
//
// # resolv.conf
//
// HostUpstreams finds the host's real nameservers, skipping loopback stub
// resolvers such as systemd-resolved's 127.0.0.53 (whose real servers are in
// /run/systemd/resolve/resolv.conf), because a container cannot reach the
// host's loopback. ContainerResolvConf writes the file a container sees:
// the host's servers for the bridge, host and none networks, or the
// responder's address for user networks, with Docker's --dns, --dns-search
// and --dns-option overrides.
package dns
