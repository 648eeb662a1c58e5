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

// imageGCVictims orders the images that may go: not needed by a pod of this
// node (by any of its names), oldest first. Containers' images are guarded
// by the engine itself.
func imageGCVictims(images []*image.Image, needed map[string]bool) []*image.Image {
	norm := map[string]bool{}
	for ref := range needed {
		if n, err := image.NormalizeRef(ref); err == nil {
			norm[n] = true
		}
	}
	var out []*image.Image
	for _, img := range images {
		keep := false
		for _, t := range img.RepoTags {
			if norm[t] {
				keep = true
			}
		}
		if !keep {
			out = append(out, img)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// collectImages runs one garbage collection pass; it returns the images it
// removed.
func collectImages(ctx context.Context, eng *engine.Engine, dir string, high, low float64, needed map[string]bool) []string {
	used, err := diskUsedPercent(dir)
	if err != nil || used < high {
		return nil
	}
	imgs, err := eng.Images().List()
	if err != nil {
		return nil
	}
	var removed []string
	for _, img := range imageGCVictims(imgs, needed) {
		if used < low {
			break
		}
		if _, err := eng.RemoveImage(ctx, img.ID, false); err != nil {
			continue // in use by a container
		}
		removed = append(removed, img.ID)
		if used, err = diskUsedPercent(dir); err != nil {
			break
		}
	}
	return removed
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
