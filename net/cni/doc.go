// Package cni is kedge's container networking: its own CNI plugin
// ("kedge-cni": a Linux bridge, a veth per container, host-local IPAM on a
// disk store, outbound masquerade, isolation between bridges and published
// ports, all with nftables in a kedge-owned table) and a small Go API,
// Network, that drives it through libcni.
//
// The plugin runs two ways. As a CNI executable the kedge binary is invoked
// under the name PluginName (a symlink, or libcni's lookup of the "type"
// field) and the re-exec dispatcher calls PluginMain. In-process, Network
// hands libcni an invoke.Exec (InProcessExec) that calls the plugin's
// functions directly, without fork and exec; plugins of other types in a
// conflist are still executed from the CNI path.
//
// A Network can also run a user's conflist of third-party plugins
// (NewExternal: the standard bridge, Calico, ...): ParseConfList checks it,
// Validate finds its plugin binaries, and kedge records each attachment
// before ADD so that Detach and GC undo it whatever libcni's cache knows.
//
// Everything the plugin touches comes from its network configuration:
// bridge name, subnet, gateway, IPAM data dir and nftables table. Nothing is
// derived from globals, so several agents on one host (each with its own
// table and data dir) never touch each other's state.
//
// # nftables layout (table "ip <nftTable>")
//
//	chain prerouting  nat    hook prerouting  prio -100: published ports (DNAT)
//	chain output      nat    hook output      prio -100: the same, for the host itself (127.0.0.1 too)
//	chain postrouting nat    hook postrouting prio  100: masquerade per network, 127.0.0.0/8 into a bridge,
//	                                                     and DNATed traffic from a bridge back into it (hairpin)
//	chain forward     filter hook forward     prio    0: new connections into a bridge from elsewhere are
//	                                                     dropped unless DNATed (isolation between bridges)
//
// Every rule carries user data naming its owner: "n:<bridge>:<what>" for a
// network's rules, "c:<network>/<container>/<ifname>" (plus " p:<proto>/<ip>/<port>" for a
// published port) for an attachment's. DEL, CHECK and GC find rules by it.
//
// Published ports use kernel DNAT, not a userland proxy: no process has to
// stay alive per port (the plugin exits after ADD), throughput is the
// kernel's, and 127.0.0.1 works through output-chain DNAT plus
// route_localnet on the bridge and a masquerade of 127.0.0.0/8 sources.
package cni
