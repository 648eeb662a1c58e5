package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Diff compares the allocations desired on this node with what the engine
// reports and returns the actions that move the engine towards the desired
// state, in the order they must be applied (see the package doc for the
// rules). It is pure: it reads backoff but does not change it, and equal
// inputs give equal outputs whatever the order of desired and actual.
//
// Actions whose NotBefore lies after nc.Now are waiting restarts, last in the
// list; everything else is due now. When the engine matches the desired
// state, Diff returns nothing.
func Diff(desired []Desired, actual []Actual, nc NodeContext, backoff BackoffState) []Action {
	want := indexDesired(desired)
	have := make(map[string]*Actual, len(actual))
	for i := range actual {
		if _, dup := have[actual[i].AllocID]; !dup {
			have[actual[i].AllocID] = &actual[i]
		}
	}
	ids := make([]string, 0, len(want)+len(have))
	for id := range want {
		ids = append(ids, id)
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)

	p := plan{now: nc.Now, backoff: backoff}
	for _, id := range ids {
		d, ok := want[id]
		if !ok {
			p.removeStale(have[id])
			continue
		}
		p.reconcile(d, have[id], nc)
	}
	return p.actions()
}

// indexDesired maps alloc ids to desired allocs, keeping the highest
// generation of a duplicated alloc (the first one on a tie) and skipping
// entries without an alloc id.
func indexDesired(desired []Desired) map[string]Desired {
	want := make(map[string]Desired, len(desired))
	for _, d := range desired {
		if d.AllocID == "" {
			continue
		}
		if cur, dup := want[d.AllocID]; dup && cur.Generation >= d.Generation {
			continue
		}
		want[d.AllocID] = d
	}
	return want
}

// plan collects actions in their groups; actions() concatenates them.
type plan struct {
	now     time.Time
	backoff BackoffState

	teardown []Action // StopPod, RemovePod, KillContainer
	replace  []Action // ReplacePod
	bringUp  []Action // EnsureImage, CreatePod, StartContainer, due RestartContainer
	waiting  []Action // RestartContainer with NotBefore in the future

	ensured map[string]bool // images ensured for the alloc being planned
}

func (p *plan) actions() []Action {
	slices.SortStableFunc(p.waiting, func(a, b Action) int {
		return cmp.Or(a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.AllocID, b.AllocID))
	})
	n := len(p.teardown) + len(p.replace) + len(p.bringUp) + len(p.waiting)
	if n == 0 {
		return nil
	}
	out := make([]Action, 0, n)
	out = append(out, p.teardown...)
	out = append(out, p.replace...)
	out = append(out, p.bringUp...)
	return append(out, p.waiting...)
}

// removeStale stops and removes the pod of an alloc that is not desired.
func (p *plan) removeStale(a *Actual) {
	const why = "allocation is no longer placed on this node"
	if a.anyRunning() {
		p.teardown = append(p.teardown, Action{Kind: StopPod, AllocID: a.AllocID, Reason: why})
	}
	p.teardown = append(p.teardown, Action{Kind: RemovePod, AllocID: a.AllocID, Reason: why})
}

// reconcile plans one desired alloc; a is nil when the engine has no pod.
func (p *plan) reconcile(d Desired, a *Actual, nc NodeContext) {
	p.ensured = map[string]bool{}
	if why, stop := stopAfterExpired(nc, d.AllocID); stop {
		if a != nil && a.anyRunning() {
			p.teardown = append(p.teardown, Action{Kind: StopPod, AllocID: d.AllocID, Reason: why})
		}
		return
	}
	if a == nil {
		p.ensureImages(d)
		p.bringUp = append(p.bringUp, Action{Kind: CreatePod, AllocID: d.AllocID, Pod: &d.Pod,
			Reason: "allocation placed on this node"})
		p.containers(d, nil)
		return
	}
	if why := mismatch(d, a); why != "" {
		p.replace = append(p.replace, Action{Kind: ReplacePod, AllocID: d.AllocID, Pod: &d.Pod, Reason: why})
		p.ensureImages(d)
		p.containers(d, nil)
		return
	}
	p.containers(d, a)
}

// stopAfterExpired reports whether the alloc has been cut off from the
// control plane for at least its stop-after, and says so.
func stopAfterExpired(nc NodeContext, id string) (string, bool) {
	if nc.ConnectedToLeader || nc.CutOffSince.IsZero() {
		return "", false
	}
	limit := nc.StopAfter[id]
	if limit <= 0 {
		return "", false
	}
	cut := nc.Now.Sub(nc.CutOffSince)
	if cut < limit {
		return "", false
	}
	return fmt.Sprintf("cut off from the control plane for %s, at least its stop-after %s", cut, limit), true
}

// mismatch says why an existing pod cannot be kept, or "" if it can.
func mismatch(d Desired, a *Actual) string {
	if !a.SandboxExists {
		return "pod sandbox is missing"
	}
	if a.SpecHash != d.Pod.Hash {
		return fmt.Sprintf("spec changed (hash %s -> %s)", a.SpecHash, d.Pod.Hash)
	}
	for _, cs := range a.Containers {
		if !slices.ContainsFunc(d.Pod.Containers, func(c ContainerSpec) bool { return c.Name == cs.Name }) {
			return fmt.Sprintf("container %q is not in the spec", cs.Name)
		}
	}
	return ""
}

// ensureImages ensures every image of the pod, in spec order.
func (p *plan) ensureImages(d Desired) {
	for _, c := range d.Pod.Containers {
		p.ensureImage(d.AllocID, c)
	}
}

func (p *plan) ensureImage(alloc string, c ContainerSpec) {
	if p.ensured[c.Image] {
		return
	}
	p.ensured[c.Image] = true
	p.bringUp = append(p.bringUp, Action{Kind: EnsureImage, AllocID: alloc, Container: c.Name, Image: c.Image,
		Reason: fmt.Sprintf("container %q needs image %s", c.Name, c.Image)})
}

// containers plans the containers of a pod whose sandbox exists (or is made
// in this round, a == nil): init containers in order, then app containers.
func (p *plan) containers(d Desired, a *Actual) {
	states := map[string]ContainerState{}
	if a != nil {
		for _, cs := range a.Containers {
			if _, dup := states[cs.Name]; !dup {
				states[cs.Name] = cs
			}
		}
	}
	appStarted := false
	for _, c := range d.Pod.Containers {
		if _, ok := states[c.Name]; ok && !c.Init {
			appStarted = true
		}
	}
	policy := d.Pod.restartPolicy()
	if !appStarted {
		for _, c := range d.Pod.Containers {
			if !c.Init {
				continue
			}
			cs, ok := states[c.Name]
			switch {
			case !ok || cs.neverStarted():
				p.start(d, c, cs, "init container")
				return
			case cs.Running:
				p.liveness(d, c, cs)
				return // wait for it to finish
			case cs.ExitCode == 0:
				continue
			default:
				if shouldRestart(policy, true, cs.ExitCode) {
					p.restart(d, c, cs, fmt.Sprintf("init container %q exited with code %d", c.Name, cs.ExitCode))
				}
				return // the next one waits; under Never the pod has failed
			}
		}
	}
	for _, c := range d.Pod.Containers {
		if c.Init {
			continue
		}
		cs, ok := states[c.Name]
		switch {
		case !ok || cs.neverStarted():
			p.start(d, c, cs, "container")
		case cs.Running:
			p.liveness(d, c, cs)
		case shouldRestart(policy, false, cs.ExitCode):
			p.restart(d, c, cs, fmt.Sprintf("container %q exited with code %d, restart policy %s",
				c.Name, cs.ExitCode, policy))
		}
	}
}

func (p *plan) start(d Desired, c ContainerSpec, cs ContainerState, what string) {
	p.ensureImage(d.AllocID, c)
	p.bringUp = append(p.bringUp, Action{Kind: StartContainer, AllocID: d.AllocID, Container: c.Name,
		ContainerID: cs.ID, Image: c.Image, Reason: fmt.Sprintf("start %s %q", what, c.Name)})
}

func (p *plan) liveness(d Desired, c ContainerSpec, cs ContainerState) {
	if cs.Healthy == nil || *cs.Healthy {
		return
	}
	p.teardown = append(p.teardown, Action{Kind: KillContainer, AllocID: d.AllocID, Container: c.Name,
		ContainerID: cs.ID, Reason: fmt.Sprintf("container %q failed its liveness check", c.Name)})
}

func (p *plan) restart(d Desired, c ContainerSpec, cs ContainerState, why string) {
	attempt, notBefore, delay := p.backoff.next(ContainerKey{d.AllocID, c.Name}, cs)
	a := Action{Kind: RestartContainer, AllocID: d.AllocID, Container: c.Name, ContainerID: cs.ID,
		Attempt: attempt, Reason: fmt.Sprintf("%s; restart %d", why, attempt)}
	if notBefore.After(p.now) {
		a.NotBefore = notBefore
		a.Reason += fmt.Sprintf(", back-off %s", delay)
		p.waiting = append(p.waiting, a)
		return
	}
	p.bringUp = append(p.bringUp, a)
}
