package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Blocking queries, as Consul's and Nomad's: the cluster reads GET
// /v1/objects/{kind}, /v1/cluster/nodes and /v1/cluster/events take
// ?index=N&wait=DURATION and answer once the cluster state's index passes N,
// or when the wait ends (at most MaxBlockingWait, also the default). Every
// answer of theirs carries the index it was read at in IndexHeader; a client
// passes it back as the next ?index=. An answer may come with nothing
// changed (the wait ended, or a change the index does not count, such as a
// node's gossip state), so clients compare what they get.

// IndexHeader is the response header with the cluster state's index (the
// Raft index of the last applied entry) a read was served at.
const IndexHeader = "X-Kedge-Index"

// MaxBlockingWait bounds the wait of a blocking query; it is also the
// default when the query names none.
const MaxBlockingWait = 5 * time.Minute

// BlockingQuery makes a cluster read wait for a change.
type BlockingQuery struct {
	// Index is the state index of the caller's last read (IndexHeader): the
	// read answers once the state is past it.
	Index uint64
	// Wait bounds the wait (0: the server's default, MaxBlockingWait).
	Wait time.Duration
}

func (q *BlockingQuery) values(v url.Values) url.Values {
	if q == nil {
		return v
	}
	if v == nil {
		v = url.Values{}
	}
	v.Set("index", strconv.FormatUint(q.Index, 10))
	if q.Wait > 0 {
		v.Set("wait", q.Wait.String())
	}
	return v
}

// getIndexed GETs path into out and returns the state index of the answer
// (0 when the agent sends none: it predates blocking queries), also with an
// error answer.
func (c *Client) getIndexed(ctx context.Context, path string, q url.Values, out any) (uint64, error) {
	resp, err := c.roundTrip(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var index uint64
	if h := resp.Header.Get(IndexHeader); h != "" {
		if index, err = strconv.ParseUint(h, 10, 64); err != nil {
			return 0, fmt.Errorf("GET %s: %s %q: %w", path, IndexHeader, h, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return index, decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return index, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return index, nil
}

// GetObjectsBlocking is GetObjects as a blocking query (q nil: answer at
// once); it also returns the state index the answer was read at.
func (c *Client) GetObjectsBlocking(ctx context.Context, kind, namespace, name string, q *BlockingQuery) ([]json.RawMessage, uint64, error) {
	v := url.Values{}
	if namespace != "" {
		v.Set("namespace", namespace)
	}
	if name != "" {
		v.Set("name", name)
	}
	var out []json.RawMessage
	idx, err := c.getIndexed(ctx, "/objects/"+url.PathEscape(kind), q.values(v), &out)
	return out, idx, err
}

// ClusterNodesBlocking is ClusterNodes as a blocking query (q nil: answer
// at once); it also returns the state index the answer was read at.
func (c *Client) ClusterNodesBlocking(ctx context.Context, q *BlockingQuery) ([]ClusterNode, uint64, error) {
	var out []ClusterNode
	idx, err := c.getIndexed(ctx, "/cluster/nodes", q.values(nil), &out)
	return out, idx, err
}

// ClusterEventsBlocking is ClusterEvents as a blocking query (q nil:
// answer at once); it also returns the state index the answer was read at.
func (c *Client) ClusterEventsBlocking(ctx context.Context, since uint64, q *BlockingQuery) ([]ClusterEvent, uint64, error) {
	var out []ClusterEvent
	idx, err := c.getIndexed(ctx, "/cluster/events", q.values(url.Values{"since": {strconv.FormatUint(since, 10)}}), &out)
	return out, idx, err
}
