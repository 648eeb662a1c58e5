package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// ClusterInit founds a cluster with the agent as its first node.
func (c *Client) ClusterInit(ctx context.Context, req InitRequest) (*InitResponse, error) {
	var r InitResponse
	return &r, c.do(ctx, http.MethodPost, "/cluster/init", nil, req, &r)
}

// ClusterJoin makes the agent join a cluster.
func (c *Client) ClusterJoin(ctx context.Context, req JoinRequest) (*JoinResponse, error) {
	var r JoinResponse
	return &r, c.do(ctx, http.MethodPost, "/cluster/join-cluster", nil, req, &r)
}

// ClusterLeave takes the agent out of its cluster (drained first unless
// force, see LeaveRequest).
func (c *Client) ClusterLeave(ctx context.Context, force bool) error {
	return c.ClusterLeaveWith(ctx, LeaveRequest{Force: force})
}

// ClusterLeaveWith takes the agent out of its cluster as req says.
func (c *Client) ClusterLeaveWith(ctx context.Context, req LeaveRequest) error {
	return c.do(ctx, http.MethodPost, "/cluster/leave", nil, req, nil)
}

// ClusterStatus reports the control plane's health.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	var r ClusterStatus
	return &r, c.do(ctx, http.MethodGet, "/cluster/status", nil, nil, &r)
}

// ClusterNodes lists the cluster's nodes.
func (c *Client) ClusterNodes(ctx context.Context) ([]ClusterNode, error) {
	r, _, err := c.ClusterNodesBlocking(ctx, nil)
	return r, err
}

// ClusterEvents returns the cluster's events after an index.
func (c *Client) ClusterEvents(ctx context.Context, since uint64) ([]ClusterEvent, error) {
	r, _, err := c.ClusterEventsBlocking(ctx, since, nil)
	return r, err
}

// CreateToken makes a join token.
func (c *Client) CreateToken(ctx context.Context, req TokenCreateRequest) (*JoinToken, error) {
	var r JoinToken
	return &r, c.do(ctx, http.MethodPost, "/cluster/tokens", nil, req, &r)
}

// Tokens lists the join tokens.
func (c *Client) Tokens(ctx context.Context) ([]JoinToken, error) {
	var r []JoinToken
	return r, c.do(ctx, http.MethodGet, "/cluster/tokens", nil, nil, &r)
}

// RevokeToken revokes a join token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/cluster/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// RemoveNode removes a dead node from the cluster.
func (c *Client) RemoveNode(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/cluster/nodes/"+url.PathEscape(ref), nil, nil, nil)
}

// SaveSnapshot streams a snapshot of the cluster state into w.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/cluster/snapshot", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// RestoreSnapshot replaces the cluster state with a snapshot.
func (c *Client) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	resp, err := c.send(ctx, http.MethodPut, "/cluster/snapshot", nil, r)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// BackupCA returns the cluster CA encrypted with a passphrase.
func (c *Client) BackupCA(ctx context.Context, passphrase string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodPost, "/cluster/ca-backup", nil, CABackupRequest{Passphrase: passphrase})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// ClusterRecover makes a surviving voter a one-voter cluster.
func (c *Client) ClusterRecover(ctx context.Context, advertise string) error {
	return c.do(ctx, http.MethodPost, "/cluster/recover", nil, InitRequest{Advertise: advertise}, nil)
}
