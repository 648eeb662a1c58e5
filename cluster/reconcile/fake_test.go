package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// fakeEngine is the in-memory engine of the tests. It executes actions
// faithfully and strictly: an action whose preconditions do not hold (a start
// before its image, an app container before the init containers finished, a
// restart before its back-off, removing a pod that still runs) is an error,
// so the tests catch a Diff that orders or times things wrongly.
type fakeEngine struct {
	mu     sync.Mutex
	now    func() time.Time
	pods   map[string]*fakePod
	images map[string]bool
	seq    int
	log    []Action
	events chan struct{} // signalled by crash
	// fail, if set, may refuse an action before it changes anything
	// (fault injection); its error is wrapped with errInjected.
	fail func(Action) bool
}

var errInjected = errors.New("injected fault")

type fakePod struct {
	spec    PodSpec
	sandbox bool
	hash    string
	cs      []ContainerState
}

func newFakeEngine(now func() time.Time) *fakeEngine {
	return &fakeEngine{now: now, pods: map[string]*fakePod{}, images: map[string]bool{}, events: make(chan struct{}, 1)}
}

// Changed makes the fake an EngineWatcher.
func (e *fakeEngine) Changed() <-chan struct{} { return e.events }

func (e *fakeEngine) ListPods(context.Context) ([]Actual, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.actualLocked(), nil
}

func (e *fakeEngine) actual() []Actual {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.actualLocked()
}

func (e *fakeEngine) actualLocked() []Actual {
	out := []Actual{}
	for id, p := range e.pods {
		out = append(out, Actual{AllocID: id, SandboxExists: p.sandbox, SpecHash: p.hash, Containers: slices.Clone(p.cs)})
	}
	slices.SortFunc(out, func(a, b Actual) int { return compareStrings(a.AllocID, b.AllocID) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *fakeEngine) applied() []Action {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

func (p *fakePod) find(name string) *ContainerState {
	for i := range p.cs {
		if p.cs[i].Name == name {
			return &p.cs[i]
		}
	}
	return nil
}

func (e *fakeEngine) Apply(_ context.Context, a Action) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil && e.fail(a) {
		return fmt.Errorf("%v: %w", a, errInjected)
	}
	if err := e.applyLocked(a); err != nil {
		return fmt.Errorf("%v: %w", a, err)
	}
	e.log = append(e.log, a)
	return nil
}

func (e *fakeEngine) applyLocked(a Action) error {
	now := e.now()
	p := e.pods[a.AllocID]
	if p == nil && a.Kind != CreatePod && a.Kind != EnsureImage {
		return errors.New("no such pod")
	}
	switch a.Kind {
	case EnsureImage:
		e.images[a.Image] = true
	case CreatePod:
		if p != nil {
			return errors.New("pod exists")
		}
		e.pods[a.AllocID] = &fakePod{spec: *a.Pod, sandbox: true, hash: a.Pod.Hash}
	case ReplacePod:
		*p = fakePod{spec: *a.Pod, sandbox: true, hash: a.Pod.Hash}
	case StopPod:
		for i := range p.cs {
			if p.cs[i].Running {
				p.cs[i].Running, p.cs[i].ExitCode, p.cs[i].FinishedAt, p.cs[i].Healthy = false, 143, now, nil
			}
		}
	case RemovePod:
		for _, c := range p.cs {
			if c.Running {
				return fmt.Errorf("container %q still runs", c.Name)
			}
		}
		delete(e.pods, a.AllocID)
	case KillContainer:
		c := p.find(a.Container)
		if c == nil || !c.Running || c.ID != a.ContainerID {
			return errors.New("no such running container")
		}
		c.Running, c.ExitCode, c.FinishedAt, c.Healthy = false, 137, now, nil
	case StartContainer:
		if !p.sandbox {
			return errors.New("no sandbox")
		}
		if !e.images[a.Image] {
			return fmt.Errorf("image %s not present", a.Image)
		}
		spec, ok := findSpec(p.spec, a.Container)
		if !ok || spec.Image != a.Image {
			return errors.New("container not in the pod's spec")
		}
		if err := p.canStart(spec); err != nil {
			return err
		}
		c := p.find(a.Container)
		if c == nil {
			p.cs = append(p.cs, ContainerState{Name: a.Container})
			c = &p.cs[len(p.cs)-1]
		} else if !c.neverStarted() {
			return errors.New("container ran before: restart it")
		}
		e.seq++
		c.ID, c.Running, c.StartedAt = fmt.Sprintf("c%d", e.seq), true, now
	case RestartContainer:
		if !a.Due(now) {
			return fmt.Errorf("restart before its back-off ends (%s)", a.NotBefore.Sub(now))
		}
		c := p.find(a.Container)
		if c == nil || c.Running || c.neverStarted() || c.ID != a.ContainerID {
			return errors.New("no such exited container")
		}
		if a.Attempt > 1 && !c.FinishedAt.IsZero() && now.Sub(c.FinishedAt) < BackoffBase {
			return fmt.Errorf("restart %s after the exit, within the shortest back-off", now.Sub(c.FinishedAt))
		}
		c.Running, c.StartedAt, c.Restarts, c.Healthy = true, now, c.Restarts+1, nil
	default:
		return fmt.Errorf("unknown action %q", a.Kind)
	}
	return nil
}

func findSpec(p PodSpec, name string) (ContainerSpec, bool) {
	for _, c := range p.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerSpec{}, false
}

// canStart checks the init container order: init containers one at a time
// in spec order, each after the previous ones exited 0; app containers after
// all of them, unless an app container exists (the init phase is over).
func (p *fakePod) canStart(spec ContainerSpec) error {
	for _, c := range p.spec.Containers {
		if !c.Init && p.find(c.Name) != nil {
			if spec.Init {
				return fmt.Errorf("init container %q after app container %q", spec.Name, c.Name)
			}
			return nil
		}
	}
	for _, c := range p.spec.Containers {
		if !c.Init {
			continue
		}
		if c.Name == spec.Name {
			break
		}
		if s := p.find(c.Name); s == nil || s.Running || s.neverStarted() || s.ExitCode != 0 {
			return fmt.Errorf("container %q before init container %q finished", spec.Name, c.Name)
		}
	}
	return nil
}

// step lets the world move: running init containers finish with exit 0.
// It reports whether anything changed.
func (e *fakeEngine) step() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := false
	for _, p := range e.pods {
		for i, c := range p.cs {
			if s, ok := findSpec(p.spec, c.Name); ok && s.Init && c.Running {
				p.cs[i].Running, p.cs[i].ExitCode, p.cs[i].FinishedAt = false, 0, e.now()
				changed = true
			}
		}
	}
	return changed
}

// crash makes a running container exit with the code.
func (e *fakeEngine) crash(alloc, container string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.pods[alloc].find(container); c != nil {
		c.Running, c.ExitCode, c.FinishedAt = false, code, e.now()
	}
	select {
	case e.events <- struct{}{}:
	default:
	}
}

func (e *fakeEngine) running(alloc, container string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pods[alloc]
	if p == nil {
		return false
	}
	c := p.find(container)
	return c != nil && c.Running
}

func (e *fakeEngine) has(alloc string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pods[alloc] != nil
}

// fakeSource is a Source whose set the test changes.
type fakeSource struct {
	mu      sync.Mutex
	desired []Desired
	err     error
	changed chan struct{}
}

func newFakeSource() *fakeSource { return &fakeSource{changed: make(chan struct{}, 1)} }

func (s *fakeSource) Desired(context.Context) ([]Desired, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.desired), s.err
}

func (s *fakeSource) Changed() <-chan struct{} { return s.changed }

func (s *fakeSource) set(d ...Desired) {
	s.mu.Lock()
	s.desired = d
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// fakeReporter records the batches it accepts.
type fakeReporter struct {
	mu      sync.Mutex
	now     func() time.Time
	fail    bool
	tries   int
	batches []batch
}

type batch struct {
	at  time.Time
	pod []PodStatus
}

func (r *fakeReporter) Report(_ context.Context, b []PodStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.fail {
		return errors.New("control plane unreachable")
	}
	r.batches = append(r.batches, batch{r.now(), slices.Clone(b)})
	return nil
}

func (r *fakeReporter) get() []batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

var (
	_ Engine        = (*fakeEngine)(nil)
	_ EngineWatcher = (*fakeEngine)(nil)
	_ Source        = (*fakeSource)(nil)
	_ Reporter      = (*fakeReporter)(nil)
)
