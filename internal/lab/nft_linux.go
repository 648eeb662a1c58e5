//go:build linux

package lab

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftTable is the lab's nftables table (bridge family, switch namespace).
const nftTable = "kedgelab"

// groupsOf maps each host (index 0 for h1) to a group number from the
// partition groups (1-based host numbers); hosts named in no group share
// one more group. A host named twice or out of range is an error.
func groupsOf(hosts int, groups [][]int) ([]int, error) {
	out := make([]int, hosts)
	for g, members := range groups {
		for _, n := range members {
			if n < 1 || n > hosts {
				return nil, fmt.Errorf("partition: no host %d (hosts are 1-%d)", n, hosts)
			}
			if out[n-1] != 0 {
				return nil, fmt.Errorf("partition: host %d is in two groups", n)
			}
			out[n-1] = g + 1
		}
	}
	for i := range out {
		if out[i] == 0 {
			out[i] = len(groups) + 1
		}
	}
	return out, nil
}

// Partition splits the hosts into groups that cannot reach each other:
// every frame between bridge ports of different groups is dropped (ARP
// included); hosts in a group reach each other. Hosts are numbered from 1
// as in their names (h1 is Hosts[0]); hosts named in no group form one more
// group together, so Partition([]int{3}) isolates h3 from the others. A new
// partition replaces the previous one atomically.
func (l *Lab) Partition(groups ...[]int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, err := groupsOf(len(l.Hosts), groups)
	if err != nil {
		return err
	}
	err = l.withNft(func(c *nftables.Conn) error {
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: nftTable})
		ch := c.AddChain(&nftables.Chain{
			Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
		})
		c.FlushChain(ch)
		for i, a := range l.Hosts {
			for j, b := range l.Hosts {
				if g[i] == g[j] {
					continue
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
					&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(a.port())},
					&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(b.port())},
					&expr.Verdict{Kind: expr.VerdictDrop},
				}})
			}
		}
		return c.Flush()
	})
	if err != nil {
		return fmt.Errorf("partition %v: %w", groups, err)
	}
	l.partition = make([][]int, 0, len(groups))
	for _, grp := range groups {
		l.partition = append(l.partition, slices.Clone(grp))
	}
	return l.saveLocked()
}

// HealPartition removes the partition (the lab's nftables table); without
// one it does nothing.
func (l *Lab) HealPartition() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.withNft(func(c *nftables.Conn) error {
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyBridge)
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		for _, t := range tables {
			if t.Name == nftTable {
				c.DelTable(t)
				return c.Flush()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("heal partition: %w", err)
	}
	l.partition = nil
	return l.saveLocked()
}

// withNft runs fn with an nftables connection in the switch namespace.
func (l *Lab) withNft(fn func(*nftables.Conn) error) error {
	fd, err := unix.Open(l.SwitchNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open switch namespace: %w", err)
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("nftables in the switch namespace: %w", err)
	}
	return fn(c)
}

// ifname is an interface name as nftables compares it: NUL-terminated.
func ifname(name string) []byte {
	return append([]byte(name), 0)
}
