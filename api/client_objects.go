package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// ApplyManifests applies a manifest file (YAML or JSON, several documents);
// source names it in errors.
func (c *Client) ApplyManifests(ctx context.Context, data []byte, source string) ([]ApplyResult, error) {
	resp, err := c.send(ctx, http.MethodPost, "/objects", url.Values{"source": {source}}, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []ApplyResult
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// GetObjects lists objects of a kind (pods, deployments ...) in a namespace
// ("" for all), or the one named.
func (c *Client) GetObjects(ctx context.Context, kind, namespace, name string) ([]json.RawMessage, error) {
	out, _, err := c.GetObjectsBlocking(ctx, kind, namespace, name, nil)
	return out, err
}

// DeleteObject deletes an object.
func (c *Client) DeleteObject(ctx context.Context, kind, namespace, name string) error {
	return c.do(ctx, http.MethodDelete, "/objects/"+url.PathEscape(kind)+"/"+url.PathEscape(namespace)+"/"+url.PathEscape(name), nil, nil, nil)
}

// NodeAction cordons, uncordons or drains a node (action is one of those).
func (c *Client) NodeAction(ctx context.Context, node, action string) error {
	return c.do(ctx, http.MethodPost, "/cluster/nodes/"+url.PathEscape(node)+"/"+action, nil, nil, nil)
}

// RolloutHistory lists a Deployment's revisions.
func (c *Client) RolloutHistory(ctx context.Context, namespace, name string) ([]Revision, error) {
	var out []Revision
	return out, c.do(ctx, http.MethodGet, "/objects/deployment/"+url.PathEscape(namespace)+"/"+url.PathEscape(name)+"/history", nil, nil, &out)
}

// RolloutUndo returns a Deployment to a revision (0: the previous one).
func (c *Client) RolloutUndo(ctx context.Context, namespace, name string, toRevision int) error {
	q := url.Values{}
	if toRevision > 0 {
		q.Set("to-revision", strconv.Itoa(toRevision))
	}
	return c.do(ctx, http.MethodPost, "/objects/deployment/"+url.PathEscape(namespace)+"/"+url.PathEscape(name)+"/undo", q, nil, nil)
}

// RolloutRestart replaces every pod of a Deployment, rolling.
func (c *Client) RolloutRestart(ctx context.Context, namespace, name string) error {
	return c.do(ctx, http.MethodPost, "/objects/deployment/"+url.PathEscape(namespace)+"/"+url.PathEscape(name)+"/restart", nil, nil, nil)
}

// Scale sets a Deployment's replicas.
func (c *Client) Scale(ctx context.Context, namespace, name string, replicas int32) error {
	return c.do(ctx, http.MethodPost, "/objects/deployment/"+url.PathEscape(namespace)+"/"+url.PathEscape(name)+"/scale",
		url.Values{"replicas": {strconv.Itoa(int(replicas))}}, nil, nil)
}
