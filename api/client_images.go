package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// ImportImage loads a docker-save or OCI archive (plain or gzip).
func (c *Client) ImportImage(ctx context.Context, archive io.Reader) ([]Image, error) {
	var r []Image
	return r, c.do(ctx, http.MethodPost, "/images/import", nil, archive, &r)
}

// PullImage pulls an image, calling progress for each progress line.
func (c *Client) PullImage(ctx context.Context, req *PullRequest, progress func(Progress) error) (*Progress, error) {
	return c.progressStream(ctx, "/images/pull", req, progress)
}

// PushImage pushes an image, calling progress for each progress line.
func (c *Client) PushImage(ctx context.Context, req *PullRequest, progress func(Progress) error) (*Progress, error) {
	return c.progressStream(ctx, "/images/push", req, progress)
}

func (c *Client) progressStream(ctx context.Context, path string, req *PullRequest, progress func(Progress) error) (*Progress, error) {
	resp, err := c.send(ctx, http.MethodPost, path, nil, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var last Progress
	err = streamJSON(resp.Body, func(p Progress) error {
		last = p
		if progress != nil {
			return progress(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if last.Error != "" {
		return nil, &StatusError{Code: http.StatusInternalServerError, Message: last.Error}
	}
	return &last, nil
}

// TagImage gives source another name.
func (c *Client) TagImage(ctx context.Context, source, target string) error {
	return c.do(ctx, http.MethodPost, "/images/tag", url.Values{"source": {source}, "target": {target}}, nil, nil)
}

// ListImages lists the node's images.
func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	var r []Image
	return r, c.do(ctx, http.MethodGet, "/images", nil, nil, &r)
}

// InspectImage returns one image by reference or id.
func (c *Client) InspectImage(ctx context.Context, ref string) (*Image, error) {
	var r Image
	return &r, c.do(ctx, http.MethodGet, "/images/inspect", url.Values{"ref": {ref}}, nil, &r)
}

// RemoveImage untags and, when nothing else refers to it, deletes an image.
func (c *Client) RemoveImage(ctx context.Context, ref string, force bool) (*RemoveResponse, error) {
	var r RemoveResponse
	return &r, c.do(ctx, http.MethodDelete, "/images", url.Values{"ref": {ref}, "force": {strconv.FormatBool(force)}}, nil, &r)
}

// PruneImages deletes dangling images, or every unused one with all.
func (c *Client) PruneImages(ctx context.Context, all bool) (*RemoveResponse, error) {
	var r RemoveResponse
	return &r, c.do(ctx, http.MethodPost, "/images/prune", url.Values{"all": {strconv.FormatBool(all)}}, nil, &r)
}

// SaveImages returns a docker-save archive of the images.
func (c *Client) SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, "/images/save", url.Values{"ref": refs}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CreateVolume creates a named volume (idempotent, as Docker's).
func (c *Client) CreateVolume(ctx context.Context, name string, labels map[string]string) (*Volume, error) {
	var r Volume
	return &r, c.do(ctx, http.MethodPost, "/volumes", nil, &Volume{Name: name, Labels: labels}, &r)
}

// ListVolumes lists the named volumes.
func (c *Client) ListVolumes(ctx context.Context) ([]Volume, error) {
	var r []Volume
	return r, c.do(ctx, http.MethodGet, "/volumes", nil, nil, &r)
}

// InspectVolume returns one volume.
func (c *Client) InspectVolume(ctx context.Context, name string) (*Volume, error) {
	var r Volume
	return &r, c.do(ctx, http.MethodGet, "/volumes/"+url.PathEscape(name), nil, nil, &r)
}

// RemoveVolume deletes a volume that no container uses (force: even then).
func (c *Client) RemoveVolume(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, "/volumes/"+url.PathEscape(name), url.Values{"force": {strconv.FormatBool(force)}}, nil, nil)
}

// PruneVolumes deletes volumes no container uses.
func (c *Client) PruneVolumes(ctx context.Context) (*RemoveResponse, error) {
	var r RemoveResponse
	return &r, c.do(ctx, http.MethodPost, "/volumes/prune", nil, nil, &r)
}

// CreateNetwork creates a user network; an empty subnet picks a free one.
func (c *Client) CreateNetwork(ctx context.Context, n *Network) (*Network, error) {
	var r Network
	return &r, c.do(ctx, http.MethodPost, "/networks", nil, n, &r)
}

// ListNetworks lists the node's networks, built-in ones included.
func (c *Client) ListNetworks(ctx context.Context) ([]Network, error) {
	var r []Network
	return r, c.do(ctx, http.MethodGet, "/networks", nil, nil, &r)
}

// InspectNetwork returns one network.
func (c *Client) InspectNetwork(ctx context.Context, name string) (*Network, error) {
	var r Network
	return &r, c.do(ctx, http.MethodGet, "/networks/"+url.PathEscape(name), nil, nil, &r)
}

// RemoveNetwork deletes a user network no container uses.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(name), nil, nil, nil)
}

// CreatePod makes a pod: shared network and IPC namespaces for containers
// that join it with NetworkMode "pod:NAME".
func (c *Client) CreatePod(ctx context.Context, p *PodConfig) (*Pod, error) {
	var r Pod
	return &r, c.do(ctx, http.MethodPost, "/pods", nil, p, &r)
}

// ListPods lists the node's pods.
func (c *Client) ListPods(ctx context.Context) ([]Pod, error) {
	var r []Pod
	return r, c.do(ctx, http.MethodGet, "/pods", nil, nil, &r)
}

// InspectPod returns one pod.
func (c *Client) InspectPod(ctx context.Context, ref string) (*Pod, error) {
	var r Pod
	return &r, c.do(ctx, http.MethodGet, "/pods/"+url.PathEscape(ref), nil, nil, &r)
}

// RemovePod deletes a pod; force removes its containers too.
func (c *Client) RemovePod(ctx context.Context, ref string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.do(ctx, http.MethodDelete, "/pods/"+url.PathEscape(ref), q, nil, nil)
}
