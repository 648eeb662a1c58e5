//go:build linux

package cni

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chain names in kedge's table; see the package doc for the layout.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
)

// ruleset is one open nftables connection bound to a network's table.
type ruleset struct {
	conn   *nftables.Conn
	table  *nftables.Table
	chains map[string]*nftables.Chain
}

// openRuleset connects to nftables and names (without creating) the table and chains.
func openRuleset(table string) (*ruleset, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	accept := nftables.ChainPolicyAccept
	rs := &ruleset{conn: c, table: t, chains: map[string]*nftables.Chain{
		chainPrerouting:  {Name: chainPrerouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		chainOutput:      {Name: chainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		chainPostrouting: {Name: chainPostrouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		chainForward:     {Name: chainForward, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept},
	}}
	return rs, nil
}

// ensure creates the table and its chains if missing (idempotent).
func (rs *ruleset) ensure() error {
	rs.conn.AddTable(rs.table)
	for _, name := range []string{chainPrerouting, chainOutput, chainPostrouting, chainForward} {
		rs.conn.AddChain(rs.chains[name])
	}
	if err := rs.conn.Flush(); err != nil {
		return fmt.Errorf("create nftables table %s: %w", rs.table.Name, err)
	}
	return nil
}

// exists reports whether the table is present.
func (rs *ruleset) exists() (bool, error) {
	tables, err := rs.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == rs.table.Name {
			return true, nil
		}
	}
	return false, nil
}

// taggedRule is a rule with its owner tag (user data).
type taggedRule struct {
	chain string
	rule  *nftables.Rule
	tag   string
}

// rules lists every rule of the table with its tag; a missing table has
// none. complete reports whether the table and all its chains exist, so
// callers skip ensure (an nftables commit costs milliseconds).
func (rs *ruleset) rules() (_ []taggedRule, complete bool, _ error) {
	chains, err := rs.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, false, fmt.Errorf("list nftables chains: %w", err)
	}
	var out []taggedRule
	found := 0
	for _, ch := range chains {
		if ch.Table.Name != rs.table.Name || rs.chains[ch.Name] == nil {
			continue
		}
		found++
		rules, err := rs.conn.GetRules(rs.table, rs.chains[ch.Name])
		if err != nil {
			return nil, false, fmt.Errorf("list rules of %s/%s: %w", rs.table.Name, ch.Name, err)
		}
		for _, r := range rules {
			out = append(out, taggedRule{chain: ch.Name, rule: r, tag: string(r.UserData)})
		}
	}
	return out, found == len(rs.chains), nil
}

// deleteWhere queues the deletion of every listed rule whose tag matches and flushes.
func (rs *ruleset) deleteWhere(all []taggedRule, match func(tag string) bool) (int, error) {
	n := 0
	for _, r := range all {
		if match(r.tag) {
			if err := rs.conn.DelRule(r.rule); err != nil {
				return 0, fmt.Errorf("delete rule %q: %w", r.tag, err)
			}
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := rs.conn.Flush(); err != nil {
		return 0, fmt.Errorf("delete %d rules from %s: %w", n, rs.table.Name, err)
	}
	return n, nil
}

// Tags.
func networkTag(bridge, what string) string { return "n:" + bridge + ":" + what }
func networkPrefix(bridge string) string    { return "n:" + bridge + ":" }
func attachmentTag(network, id, ifname string) string {
	return "c:" + network + "/" + id + "/" + ifname
}
func portTag(network, id, ifname string, p PortMapping) string {
	return attachmentTag(network, id, ifname) + " p:" + portKey(p)
}

// tagAttachment returns the attachment part of a rule tag ("" for network rules).
func tagAttachment(tag string) string {
	if !strings.HasPrefix(tag, "c:") {
		return ""
	}
	a, _, _ := strings.Cut(tag, " ")
	return a
}

// tagPort returns the published-port part of a tag ("" if none).
func tagPort(tag string) string {
	_, p, ok := strings.Cut(tag, " p:")
	if !ok {
		return ""
	}
	return p
}

// ensureNetworkRules adds the network's masquerade, localhost and isolation
// rules unless rules with their tags already exist.
func (rs *ruleset) ensureNetworkRules(nc *netConf, existing []taggedRule) error {
	have := map[string]bool{}
	for _, r := range existing {
		have[r.tag] = true
	}
	added := 0
	add := func(chain, what string, exprs []expr.Any) {
		tag := networkTag(nc.Bridge, what)
		if have[tag] {
			return
		}
		rs.conn.AddRule(&nftables.Rule{Table: rs.table, Chain: rs.chains[chain], Exprs: exprs, UserData: []byte(tag)})
		added++
	}
	br := ifnameBytes(nc.Bridge)
	// ip saddr <subnet> oifname != <bridge> masquerade
	add(chainPostrouting, "masq", concat(
		matchPrefix(12, nc.subnet),
		matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br),
		[]expr.Any{&expr.Masq{}},
	))
	// ip saddr 127.0.0.0/8 oifname <bridge> masquerade (published ports reached at 127.0.0.1)
	add(chainPostrouting, "localhost", concat(
		matchPrefix(12, &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}),
		matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, br),
		[]expr.Any{&expr.Masq{}},
	))
	// ip saddr <subnet> oifname <bridge> ct status dnat masquerade: a container
	// reaching a published port of its own network through a host address
	// gets the answer back through the host (hairpin).
	add(chainPostrouting, "hairpin", concat(
		matchPrefix(12, nc.subnet),
		matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, br),
		matchCtBits(expr.CtKeySTATUS, ipsDstNAT, expr.CmpOpNeq),
		[]expr.Any{&expr.Masq{}},
	))
	// oifname <bridge> iifname != <bridge> ct state new ct status & dnat == 0 drop
	add(chainForward, "isolate", concat(
		matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, br),
		matchMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br),
		matchCtBits(expr.CtKeySTATE, expr.CtStateBitNEW, expr.CmpOpNeq),
		matchCtBits(expr.CtKeySTATUS, ipsDstNAT, expr.CmpOpEq),
		[]expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}},
	))
	if added == 0 {
		return nil
	}
	if err := rs.conn.Flush(); err != nil {
		return fmt.Errorf("add rules of network %s to %s: %w", nc.Name, rs.table.Name, err)
	}
	return nil
}

// ipsDstNAT is IPS_DST_NAT of the conntrack status bits.
const ipsDstNAT = 1 << 5

// addPortRules publishes ports to the container address, in prerouting and output.
func (rs *ruleset) addPortRules(nc *netConf, id, ifname string, ip net.IP) error {
	for _, p := range nc.ports {
		var dst []expr.Any
		if p.HostIP == "" {
			// fib daddr type local
			dst = []expr.Any{
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			}
		} else {
			dst = []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net.ParseIP(p.HostIP).To4()},
			}
		}
		proto := byte(unix.IPPROTO_TCP)
		if p.Protocol == "udp" {
			proto = unix.IPPROTO_UDP
		}
		exprs := concat(dst, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(p.HostPort))},
			&expr.Immediate{Register: 1, Data: ip.To4()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(p.ContainerPort))},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		})
		tag := []byte(portTag(nc.Name, id, ifname, p))
		for _, chain := range []string{chainPrerouting, chainOutput} {
			rs.conn.AddRule(&nftables.Rule{Table: rs.table, Chain: rs.chains[chain], Exprs: exprs, UserData: tag})
		}
	}
	if len(nc.ports) == 0 {
		return nil
	}
	if err := rs.conn.Flush(); err != nil {
		return fmt.Errorf("publish ports of %s: %w", id, err)
	}
	return nil
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// matchPrefix matches the IPv4 header field at offset (12 saddr, 16 daddr) against n.
func matchPrefix(offset uint32, n *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
	}
}

func matchMeta(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: data},
	}
}

// matchCtBits matches (ct key & bits) op 0.
func matchCtBits(key expr.CtKey, bits uint32, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// ifnameBytes pads an interface name to IFNAMSIZ as the kernel compares it.
func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// hasPrefixTag is a helper for deleteWhere.
func hasPrefixTag(prefix string) func(string) bool {
	return func(tag string) bool { return strings.HasPrefix(tag, prefix) }
}
