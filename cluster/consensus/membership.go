package consensus

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// AddNonvoter adds a server to the cluster as a non-voter; autopilot
// promotes it once it has been healthy for Config.StabilizationTime and a
// voter seat is open. Adding a server already present with the same address
// does nothing; a known id with a new address keeps its suffrage; another
// server holding the same address is removed first. Leader only.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	op := fmt.Sprintf("add raft server %s at %s", id, addr)
	if id == "" || addr == "" {
		return fmt.Errorf("%s: id and address are required", op)
	}
	if err := checkHostPort(addr); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !n.IsLeader() {
		return n.wrapErr(op, raft.ErrNotLeader)
	}
	err := n.call(ctx, func() error {
		return n.pilot.AddServer(&autopilot.Server{
			ID:          raft.ServerID(id),
			Name:        id,
			Address:     raft.ServerAddress(addr),
			NodeStatus:  autopilot.NodeAlive,
			RaftVersion: int(raft.ProtocolVersionMax),
		})
	})
	return n.wrapErr(op, err)
}

// RemoveServer removes a server from the cluster (voter or not). A removed
// server shuts its Raft down once it learns of the change (its operations
// then return ErrShutdown; Shutdown still releases it); the leader removing
// itself steps down first. Leader only.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	f := n.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx))
	return n.wrapErr("remove raft server "+id, n.await(ctx, f))
}

// TransferLeadership hands leadership to the most up-to-date voter and
// returns once that voter has taken over. Leader only.
func (n *Node) TransferLeadership(ctx context.Context) error {
	return n.wrapErr("transfer raft leadership", n.await(ctx, n.raft.LeadershipTransfer()))
}
