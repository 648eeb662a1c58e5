package probe

import (
	"reflect"
	"slices"
	"time"

	"kedge/api"
)

// Target is one running container to probe.
type Target struct {
	// Key names the container on this node (alloc id and container name);
	// it is unique among the targets and is what Execer.Exec receives.
	Key string
	// PodIP is the host of HTTP and TCP probes that name none.
	PodIP string
	// Container supplies the probes and the ports that named probe ports
	// refer to; other fields are ignored.
	Container api.ContainerSpec
	// StartedAt is when the container (re)started: initial delays count from
	// it, and a new value restarts the target's probing. Zero means when
	// Sync first sees the target.
	StartedAt time.Time
}

// probes returns the container's probes indexed by Kind.
func (t *Target) probes() [numKinds]*api.Probe {
	c := &t.Container
	return [numKinds]*api.Probe{Startup: c.StartupProbe, Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe}
}

// clone keeps what the Manager uses of t, deep enough that the caller may
// reuse its values.
func (t *Target) clone() Target {
	c, cp := &t.Container, *t
	cp.Container = api.ContainerSpec{
		Name:           c.Name,
		Ports:          slices.Clone(c.Ports),
		StartupProbe:   cloneProbe(c.StartupProbe),
		LivenessProbe:  cloneProbe(c.LivenessProbe),
		ReadinessProbe: cloneProbe(c.ReadinessProbe),
	}
	return cp
}

func cloneProbe(p *api.Probe) *api.Probe {
	if p == nil {
		return nil
	}
	cp := *p
	if p.Exec != nil {
		e := *p.Exec
		e.Command = slices.Clone(e.Command)
		cp.Exec = &e
	}
	if p.HTTPGet != nil {
		h := *p.HTTPGet
		h.HTTPHeaders = slices.Clone(h.HTTPHeaders)
		cp.HTTPGet = &h
	}
	if p.TCPSocket != nil {
		s := *p.TCPSocket
		cp.TCPSocket = &s
	}
	return &cp
}

// restartedBy reports whether next, the new version of the kept target t,
// needs fresh probing: the container restarted or what is probed changed.
func (t *Target) restartedBy(next *Target) bool {
	if !t.StartedAt.Equal(next.StartedAt) || t.PodIP != next.PodIP {
		return true
	}
	if !reflect.DeepEqual(t.probes(), next.probes()) {
		return true
	}
	return !reflect.DeepEqual(t.Container.Ports, next.Container.Ports)
}
