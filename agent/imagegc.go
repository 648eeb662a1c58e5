package agent

import (
	"context"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"kedge/engine"
	"kedge/engine/image"
)

// Image garbage collection: edge disks are small. When the data dir's file
// system is fuller than the high mark, the agent removes images no
// container uses and no pod placed on this node needs, oldest first, until
// it is under the low mark.

const imageGCInterval = 30 * time.Second

// diskUsedPercent is how full the file system holding dir is.
func diskUsedPercent(dir string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	total := float64(st.Blocks) * float64(st.Bsize)
	if total == 0 {
		return 0, nil
	}
	free := float64(st.Bavail) * float64(st.Bsize)
	return 100 * (total - free) / total, nil
}

// imageGCVictims orders the images that may go: those not in keep (image
// IDs), oldest first. Containers' images are guarded by the engine itself.
func imageGCVictims(images []*image.Image, keep map[string]bool) []*image.Image {
	var out []*image.Image
	for _, img := range images {
		if !keep[img.ID] {
			out = append(out, img)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// collectImages runs one garbage collection pass; it returns the images it
// removed. needed are the references the node's pods name (by tag, digest
// or ID): the images they resolve to stay.
func collectImages(ctx context.Context, eng *engine.Engine, dir string, high, low float64, needed map[string]bool) []string {
	used, err := diskUsedPercent(dir)
	if err != nil || used < high {
		return nil
	}
	imgs, err := eng.Images().List()
	if err != nil {
		return nil
	}
	keep := map[string]bool{}
	for ref := range needed {
		if img, err := eng.Images().Get(ref); err == nil {
			keep[img.ID] = true
		}
	}
	var removed []string
	for _, img := range imageGCVictims(imgs, keep) {
		if used < low {
			break
		}
		if !removeImage(ctx, eng, img) {
			continue // in use by a container
		}
		removed = append(removed, img.ID)
		if used, err = diskUsedPercent(dir); err != nil {
			break
		}
	}
	return removed
}

// removeImage removes an image by each of its names (an image with several
// is only untagged by one) or, without names, by its ID; it reports whether
// the image is gone. The engine refuses an image a container uses.
func removeImage(ctx context.Context, eng *engine.Engine, img *image.Image) bool {
	refs := img.RepoTags
	if len(refs) == 0 {
		refs = []string{img.ID}
	}
	for _, ref := range refs {
		if _, err := eng.RemoveImage(ctx, ref, false); err != nil {
			return false
		}
	}
	return true
}

// imageGCLoop collects images every imageGCInterval until ctx ends.
func (a *Agent) imageGCLoop(ctx context.Context) {
	high, low := a.cfg.Defaults.ImageGCHighPercent, a.cfg.Defaults.ImageGCLowPercent
	if high <= 0 {
		high = 85
	}
	if low <= 0 || low > high {
		low = high - 10
	}
	t := time.NewTicker(imageGCInterval)
	defer t.Stop()
	for {
		if removed := collectImages(ctx, a.engine, a.cfg.DataDir, float64(high), float64(low), a.cluster.NeededImages()); len(removed) > 0 {
			a.log.Info("image garbage collection", "removed", len(removed))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
