//go:build linux

package cni

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Remove deletes the network from the host: its rules, its bridge and its
// IPAM directory. It fails with ErrNetworkInUse while any container is
// attached (a reservation or a veth on the bridge remains); GC first to drop
// attachments of dead containers. The agent's table goes too once empty.
// An external network (NewExternal) instead DELs every attachment left and
// drops kedge's records of them; what its plugins made on the host (a
// bridge device, IPAM directories) stays, as it may be shared.
func (n *Network) Remove(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.ext != nil {
		return n.removeExternal(ctx)
	}
	n.Wait() // veths of recent detaches still being deleted
	nc := n.nc
	unlock, err := lockNetwork(nc)
	if err != nil {
		return err
	}
	defer unlock()
	ports, err := bridgePorts(nc.Bridge)
	if err != nil {
		return err
	}
	dir := filepath.Join(nc.DataDir, nc.Name)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read IPAM dir %s: %w", dir, err)
	}
	held := 0
	for _, e := range entries {
		if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
			held++
		}
	}
	if len(ports) > 0 || held > 0 {
		return fmt.Errorf("remove network %s: %d veths, %d addresses held: %w", nc.Name, len(ports), held, ErrNetworkInUse)
	}
	rs, err := openRuleset(nc.Table)
	if err != nil {
		return err
	}
	all, _, err := rs.rules()
	if err != nil {
		return err
	}
	deleted, err := rs.deleteWhere(all, hasPrefixTag(networkPrefix(nc.Bridge)))
	if err != nil {
		return err
	}
	if ok, _ := rs.exists(); ok && deleted == len(all) {
		rs.conn.DelTable(rs.table)
		if err := rs.conn.Flush(); err != nil {
			return fmt.Errorf("delete nftables table %s: %w", nc.Table, err)
		}
	}
	if err := deleteKeeper(nc.Bridge); err != nil {
		return fmt.Errorf("remove network %s: %w", nc.Name, err)
	}
	if err := deleteLink(nc.Bridge); err != nil {
		return fmt.Errorf("remove network %s: %w", nc.Name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove IPAM dir %s: %w", dir, err)
	}
	return nil
}

// tableExists reports whether an ip-family nftables table exists (for tests and diagnostics).
func tableExists(name string) (bool, error) {
	rs, err := openRuleset(name)
	if err != nil {
		return false, err
	}
	return rs.exists()
}
