package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Resolver is what a Server asks about the names its network owns: the
// network's containers, their aliases and "name.network" forms. The server
// calls it concurrently from many queries, so implementations must be safe
// for concurrent use, and fast: it runs on every query.
type Resolver interface {
	// LookupHost returns the addresses of name and whether the network owns
	// the name at all. name is lower case, without the trailing dot. A name
	// that is owned but has no address of the asked family is answered with
	// NODATA; a name that is not owned is forwarded upstream (or answered
	// NXDOMAIN when it lies under one of the server's Domains).
	LookupHost(ctx context.Context, name string) (addrs []netip.Addr, ok bool)
}

// ReverseResolver is an optional extension of Resolver: a Lookup that also
// implements it answers PTR queries for the network's addresses (as
// Docker's resolver does); other reverse names are forwarded.
type ReverseResolver interface {
	// LookupAddr returns the names (lower case, no trailing dot) of addr and
	// whether the network owns the address.
	LookupAddr(ctx context.Context, addr netip.Addr) (names []string, ok bool)
}

// Table is a concurrency-safe Resolver that the network's owner fills as
// containers come and go. Each entry belongs to an owner (a container id):
// Set replaces everything the owner had, Remove drops it, and a name that
// several owners share (a network alias) resolves to all their addresses.
// The zero value is not usable; call NewTable.
type Table struct {
	mu     sync.RWMutex
	owners map[string]tableEntry
	names  map[string]map[string]struct{} // name -> owners
}

type tableEntry struct {
	names []string
	addrs []netip.Addr
}

var (
	_ Resolver        = (*Table)(nil)
	_ ReverseResolver = (*Table)(nil)
)

// NewTable returns an empty Table.
func NewTable() *Table {
	return &Table{owners: map[string]tableEntry{}, names: map[string]map[string]struct{}{}}
}

// CanonicalName is the form names are compared in: lower case, without a
// trailing dot (DNS names are case-insensitive).
func CanonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Set makes names resolve to addrs for owner, replacing whatever owner had
// before. The first name is the owner's primary name: the one reverse
// (PTR) lookups of its addresses return. Empty names are ignored; addresses are unmapped (an IPv4-mapped
// IPv6 address counts as IPv4).
func (t *Table) Set(owner string, names []string, addrs []netip.Addr) {
	e := tableEntry{}
	for _, n := range names {
		if n = CanonicalName(n); n != "" && !slices.Contains(e.names, n) {
			e.names = append(e.names, n)
		}
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.IsValid() && !slices.Contains(e.addrs, a) {
			e.addrs = append(e.addrs, a)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(owner)
	if len(e.names) == 0 {
		return
	}
	t.owners[owner] = e
	for _, n := range e.names {
		set := t.names[n]
		if set == nil {
			set = map[string]struct{}{}
			t.names[n] = set
		}
		set[owner] = struct{}{}
	}
}

// Remove drops every name owner had.
func (t *Table) Remove(owner string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(owner)
}

func (t *Table) removeLocked(owner string) {
	old, ok := t.owners[owner]
	if !ok {
		return
	}
	delete(t.owners, owner)
	for _, n := range old.names {
		delete(t.names[n], owner)
		if len(t.names[n]) == 0 {
			delete(t.names, n)
		}
	}
}

// LookupHost implements Resolver. Addresses of several owners come in the
// order of their owner ids, so answers are stable.
func (t *Table) LookupHost(_ context.Context, name string) ([]netip.Addr, bool) {
	name = CanonicalName(name)
	t.mu.RLock()
	defer t.mu.RUnlock()
	set, ok := t.names[name]
	if !ok {
		return nil, false
	}
	if len(set) == 1 {
		for o := range set {
			return slices.Clone(t.owners[o].addrs), true
		}
	}
	owners := make([]string, 0, len(set))
	for o := range set {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	var addrs []netip.Addr
	for _, o := range owners {
		for _, a := range t.owners[o].addrs {
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs, true
}

// LookupAddr implements ReverseResolver: the primary names of the owners
// of addr, in the order of their owner ids.
func (t *Table) LookupAddr(_ context.Context, addr netip.Addr) ([]string, bool) {
	addr = addr.Unmap()
	t.mu.RLock()
	defer t.mu.RUnlock()
	var owners []string
	for o, e := range t.owners {
		if slices.Contains(e.addrs, addr) {
			owners = append(owners, o)
		}
	}
	if len(owners) == 0 {
		return nil, false
	}
	slices.Sort(owners)
	names := make([]string, 0, len(owners))
	for _, o := range owners {
		if n := t.owners[o].names[0]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, true
}
