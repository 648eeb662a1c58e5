package engine

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/api"
	"kedge/engine/volume"
)

// withAnonymousVolumes names the container's anonymous volumes (`-v /path`
// and the image's VOLUMEs not covered by a mount), once, at create time, so
// every start of the container mounts the same ones.
func withAnonymousVolumes(mounts []api.Mount, imageVolumes map[string]struct{}) ([]api.Mount, []string) {
	out := append([]api.Mount(nil), mounts...)
	var anon []string
	covered := map[string]bool{}
	for i := range out {
		covered[path.Clean(out[i].Target)] = true
		if out[i].Type == "volume" && out[i].Source == "" {
			out[i].Source = newID()
			anon = append(anon, out[i].Source)
		}
	}
	var paths []string
	for p := range imageVolumes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !path.IsAbs(p) || covered[path.Clean(p)] {
			continue
		}
		name := newID()
		out = append(out, api.Mount{Type: "volume", Source: name, Target: path.Clean(p)})
		anon = append(anon, name)
	}
	return out, anon
}

// resolveMounts turns the container's mounts into OCI mounts, creating
// volumes on first use and filling new ones from the image's content at
// their mount point, as Docker does.
func (e *Engine) resolveMounts(rec *record, rootfs string) ([]specs.Mount, []api.MountPoint, error) {
	anon := map[string]bool{}
	for _, n := range rec.AnonymousVolumes {
		anon[n] = true
	}
	var mounts []specs.Mount
	var points []api.MountPoint
	for _, m := range rec.Config.Mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		switch m.Type {
		case "volume":
			v, _, err := e.volumes.Create(m.Source, nil, anon[m.Source])
			if err != nil {
				return nil, nil, err
			}
			if fill, err := e.volumes.ClaimFill(m.Source); err != nil {
				return nil, nil, err
			} else if fill {
				if err := fillVolume(rootfs, m.Target, v.Mountpoint); err != nil {
					return nil, nil, fmt.Errorf("fill volume %s from the image: %w", m.Source, err)
				}
			}
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: v.Mountpoint, Options: opts})
			points = append(points, api.MountPoint{Type: "volume", Name: m.Source, Source: v.Mountpoint, Destination: m.Target, RW: !m.ReadOnly})
		case "bind":
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
			points = append(points, api.MountPoint{Type: "bind", Source: m.Source, Destination: m.Target, RW: !m.ReadOnly})
		case "tmpfs":
			topts := []string{"nosuid", "nodev"}
			if m.TmpfsSize > 0 {
				topts = append(topts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			if m.TmpfsMode != 0 {
				topts = append(topts, "mode="+strconv.FormatUint(uint64(m.TmpfsMode), 8))
			}
			if m.ReadOnly {
				topts = append(topts, "ro")
			}
			topts = append(topts, m.Options...)
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: topts})
			points = append(points, api.MountPoint{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, RW: !m.ReadOnly})
		}
	}
	return mounts, points, nil
}

// fillVolume copies the image's content at target (resolved inside rootfs
// without following links out of it) into a new volume.
func fillVolume(rootfs, target, data string) error {
	src, err := securejoin.SecureJoin(rootfs, target)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil // nothing to copy: the image has no directory there
	}
	if err := volume.CopyTree(src, data); err != nil {
		return err
	}
	// The volume's root takes the image directory's mode and owner.
	return os.Chmod(data, fi.Mode().Perm())
}
