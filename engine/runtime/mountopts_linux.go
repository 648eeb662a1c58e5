//go:build linux

package runtime

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is a parsed OCI mount option list.
type mountOptions struct {
	flags       uintptr // MS_* flags for mount(2)
	propagation []uintptr
	data        string // filesystem-specific options
}

// parseMountOptions splits OCI mount options into mount(2) flags,
// propagation changes and filesystem data, as runc does.
func parseMountOptions(options []string) mountOptions {
	var o mountOptions
	var data []string
	for _, opt := range options {
		set, clear, prop, known := mountOption(opt)
		switch {
		case prop != 0:
			o.propagation = append(o.propagation, prop)
		case known:
			o.flags = (o.flags &^ clear) | set
		default:
			data = append(data, opt)
		}
	}
	o.data = strings.Join(data, ",")
	return o
}

// mountOption maps one option word to flags to set and clear, or to a
// propagation type; known is false for filesystem data.
func mountOption(opt string) (set, clear, prop uintptr, known bool) {
	switch opt {
	case "ro":
		return unix.MS_RDONLY, 0, 0, true
	case "rw":
		return 0, unix.MS_RDONLY, 0, true
	case "nosuid":
		return unix.MS_NOSUID, 0, 0, true
	case "suid":
		return 0, unix.MS_NOSUID, 0, true
	case "nodev":
		return unix.MS_NODEV, 0, 0, true
	case "dev":
		return 0, unix.MS_NODEV, 0, true
	case "noexec":
		return unix.MS_NOEXEC, 0, 0, true
	case "exec":
		return 0, unix.MS_NOEXEC, 0, true
	case "sync":
		return unix.MS_SYNCHRONOUS, 0, 0, true
	case "async":
		return 0, unix.MS_SYNCHRONOUS, 0, true
	case "dirsync":
		return unix.MS_DIRSYNC, 0, 0, true
	case "mand":
		return unix.MS_MANDLOCK, 0, 0, true
	case "nomand":
		return 0, unix.MS_MANDLOCK, 0, true
	case "noatime":
		return unix.MS_NOATIME, 0, 0, true
	case "atime":
		return 0, unix.MS_NOATIME, 0, true
	case "nodiratime":
		return unix.MS_NODIRATIME, 0, 0, true
	case "diratime":
		return 0, unix.MS_NODIRATIME, 0, true
	case "relatime":
		return unix.MS_RELATIME, 0, 0, true
	case "norelatime":
		return 0, unix.MS_RELATIME, 0, true
	case "strictatime":
		return unix.MS_STRICTATIME, 0, 0, true
	case "nostrictatime":
		return 0, unix.MS_STRICTATIME, 0, true
	case "bind":
		return unix.MS_BIND, 0, 0, true
	case "rbind":
		return unix.MS_BIND | unix.MS_REC, 0, 0, true
	case "private":
		return 0, 0, unix.MS_PRIVATE, true
	case "rprivate":
		return 0, 0, unix.MS_PRIVATE | unix.MS_REC, true
	case "shared":
		return 0, 0, unix.MS_SHARED, true
	case "rshared":
		return 0, 0, unix.MS_SHARED | unix.MS_REC, true
	case "slave":
		return 0, 0, unix.MS_SLAVE, true
	case "rslave":
		return 0, 0, unix.MS_SLAVE | unix.MS_REC, true
	case "unbindable":
		return 0, 0, unix.MS_UNBINDABLE, true
	case "runbindable":
		return 0, 0, unix.MS_UNBINDABLE | unix.MS_REC, true
	}
	return 0, 0, 0, false
}

// rootPropagation maps Spec.Linux.RootfsPropagation; the default is rprivate
// so that nothing the init mounts shows up on the host.
func rootPropagation(p string) uintptr {
	if p == "" {
		return unix.MS_PRIVATE | unix.MS_REC
	}
	if _, _, prop, _ := mountOption(p); prop != 0 {
		return prop
	}
	return unix.MS_PRIVATE | unix.MS_REC
}
