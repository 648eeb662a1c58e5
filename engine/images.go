package engine

import (
	"context"
	"errors"
	"fmt"

	"kedge/api"
	"kedge/engine/image"
)

// RemoveImage untags an image and deletes it when nothing refers to it; an
// image that a container uses is refused unless force.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) ([]string, error) {
	lines, err := e.images.Remove(ref, force, e.imageInUse)
	return lines, imageErr(ref, err)
}

// PruneImages deletes dangling images, or every image no container uses with all.
func (e *Engine) PruneImages(ctx context.Context, all bool) (int64, []string, error) {
	n, lines, err := e.images.Prune(ctx, all, e.imageInUse)
	return n, lines, imageErr("", err)
}

// imageErr maps the image store's errors to the API's.
func imageErr(ref string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, image.ErrNotFound):
		return fmt.Errorf("%w: %w", err, api.ErrNotFound)
	case errors.Is(err, image.ErrInUse):
		return fmt.Errorf("%w: %w", err, api.ErrConflict)
	case errors.Is(err, image.ErrInvalidReference), errors.Is(err, image.ErrInvalidArchive),
		errors.Is(err, image.ErrUnsafeLayer), errors.Is(err, image.ErrNoPlatform), errors.Is(err, image.ErrAmbiguous):
		return fmt.Errorf("%w: %w", err, api.ErrInvalid)
	}
	return err
}

// ImageErr maps the image store's errors to the API's sentinels, for callers
// of Images() directly.
func ImageErr(err error) error { return imageErr("", err) }

// ListVolumes lists the volumes with the containers that use them.
func (e *Engine) ListVolumes() ([]api.Volume, error) {
	vs, err := e.volumes.List()
	if err != nil {
		return nil, err
	}
	out := make([]api.Volume, 0, len(vs))
	for _, v := range vs {
		v.UsedBy = e.volumeUsers(v.Name)
		out = append(out, *v)
	}
	return out, nil
}

// InspectVolume returns one volume.
func (e *Engine) InspectVolume(name string) (*api.Volume, error) {
	v, err := e.volumes.Get(name)
	if err != nil {
		return nil, err
	}
	v.UsedBy = e.volumeUsers(name)
	return v, nil
}

// RemoveVolume deletes a volume no container uses (force: even a used one is
// refused while a container runs with it).
func (e *Engine) RemoveVolume(name string, force bool) error {
	if users := e.volumeUsers(name); len(users) > 0 {
		return fmt.Errorf("volume %s is in use by container %s: %w", name, users[0][:12], api.ErrConflict)
	}
	e.emit("volume", "destroy", name, nil)
	return e.volumes.Remove(name)
}

// PruneVolumes deletes every volume no container uses.
func (e *Engine) PruneVolumes() ([]string, error) {
	vs, err := e.volumes.List()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, v := range vs {
		if e.volumeInUse(v.Name) {
			continue
		}
		if err := e.volumes.Remove(v.Name); err == nil {
			removed = append(removed, v.Name)
		}
	}
	return removed, nil
}

// NewVolumeName returns a random name for an unnamed volume.
func NewVolumeName() string { return newID() }
