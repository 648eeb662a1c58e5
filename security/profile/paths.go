package profile

// DefaultMaskedPaths returns Docker's masked paths: files and directories a
// container must not read, bind-mounted over with /dev/null (files) or an
// empty read-only tmpfs (directories). A fresh slice is returned on each call.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns Docker's read-only paths under /proc: kernel
// tunables a container may read but must not change, remounted read-only.
// A fresh slice is returned on each call.
func DefaultReadonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}
