package reconcile

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The model-based test: random desired sets and random engine states, driven
// round after round through Diff and a fake engine that executes actions
// faithfully and refuses out-of-order ones. Without injected faults, within a
// bounded number of rounds the engine matches the model of the desired state
// and a further round yields no actions (convergence and idempotence).

const maxRounds = 400

type scenario struct {
	desired []Desired
	eng     *fakeEngine
	nc      NodeContext
	backoff BackoffState
	now     time.Time
	faulty  int // rounds with injected faults at the start
}

var (
	allocPool = []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6"}
	imagePool = []string{"busybox", "nginx", "redis", "tools"}
	policies  = []RestartPolicy{"", RestartAlways, RestartOnFailure, RestartNever}
)

func randomSpec(r *rand.Rand) PodSpec {
	p := PodSpec{Name: "p", Namespace: "ns", RestartPolicy: policies[r.IntN(len(policies))]}
	n := 1 + r.IntN(4)
	for i := range n {
		p.Containers = append(p.Containers, ContainerSpec{
			Name: fmt.Sprintf("c%d", i), Image: imagePool[r.IntN(len(imagePool))], Init: r.IntN(3) == 0,
		})
	}
	// The hash stands for the spec: equal specs, equal hashes.
	h := fnv.New64a()
	fmt.Fprint(h, p.RestartPolicy, p.Containers)
	p.Hash = fmt.Sprintf("%x", h.Sum64())
	return p
}

func randomState(r *rand.Rand, name string, now time.Time) ContainerState {
	cs := ContainerState{Name: name, ID: fmt.Sprintf("old-%s-%d", name, r.IntN(1000)), Restarts: r.IntN(5)}
	ago := time.Duration(r.IntN(1200)) * time.Second
	switch r.IntN(6) {
	case 0: // created, never started
	case 1:
		cs.Running, cs.StartedAt = true, now.Add(-ago)
	case 2:
		cs.Running, cs.StartedAt, cs.Healthy = true, now.Add(-ago), ptr(r.IntN(2) == 0)
		cs.Ready = ptr(r.IntN(2) == 0)
	default:
		cs.ExitCode = []int{0, 1, 137}[r.IntN(3)]
		cs.FinishedAt = now.Add(-ago)
		if r.IntN(2) == 0 {
			cs.StartedAt = cs.FinishedAt.Add(-time.Duration(r.IntN(1200)) * time.Second)
		}
	}
	return cs
}

func newScenario(seed uint64) *scenario {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &scenario{now: t0.Add(time.Duration(r.IntN(1000)) * time.Second), backoff: BackoffState{}}
	s.eng = newFakeEngine(func() time.Time { return s.now })
	want := map[string]PodSpec{}
	for _, id := range allocPool {
		if r.IntN(2) == 0 {
			spec := randomSpec(r)
			want[id] = spec
			s.desired = append(s.desired, Desired{AllocID: id, Pod: spec, Generation: int64(r.IntN(3))})
		}
	}
	r.Shuffle(len(s.desired), func(i, j int) { s.desired[i], s.desired[j] = s.desired[j], s.desired[i] })
	for _, img := range imagePool {
		s.eng.images[img] = r.IntN(2) == 0
	}
	for _, id := range allocPool {
		if r.IntN(3) == 0 {
			continue
		}
		spec, ok := want[id]
		if !ok || r.IntN(4) == 0 {
			spec = randomSpec(r)
		}
		p := &fakePod{spec: spec, sandbox: r.IntN(10) != 0, hash: spec.Hash}
		for _, c := range spec.Containers {
			if r.IntN(3) != 0 {
				p.cs = append(p.cs, randomState(r, c.Name, s.now))
			}
		}
		if r.IntN(20) == 0 {
			p.cs = append(p.cs, randomState(r, "stray", s.now))
		}
		s.eng.pods[id] = p
		for _, c := range p.cs {
			if r.IntN(3) == 0 {
				s.backoff[ContainerKey{id, c.Name}] = Backoff{Restarts: r.IntN(9), LastRestart: s.now.Add(-time.Duration(r.IntN(3600)) * time.Second)}
			}
		}
	}
	s.nc = NodeContext{ConnectedToLeader: true}
	if r.IntN(3) == 0 {
		s.nc = NodeContext{CutOffSince: s.now.Add(-time.Duration(r.IntN(7200)) * time.Second), StopAfter: map[string]time.Duration{}}
		for _, id := range allocPool {
			if r.IntN(2) == 0 {
				s.nc.StopAfter[id] = time.Duration(r.IntN(7200)) * time.Second
			}
		}
	}
	if r.IntN(2) == 0 {
		s.faulty = 1 + r.IntN(10)
		s.eng.fail = func(Action) bool { return r.IntN(4) == 0 }
	}
	return s
}

func (s *scenario) ctx() NodeContext {
	nc := s.nc
	nc.Now = s.now
	return nc
}

// round runs Diff once, applies the due actions as Run does, and lets the
// world move. It returns the actions and whether the world changed by itself.
func (s *scenario) round(t *testing.T, round int, r *rand.Rand) ([]Action, bool) {
	t.Helper()
	if round == s.faulty {
		s.eng.fail = nil
	}
	if round > 0 {
		s.now = s.now.Add(time.Duration(1+r.IntN(60)) * time.Second)
	}
	actual := s.eng.actual()
	desiredCopy, actualCopy, backoffCopy := cloneDesired(s.desired), cloneActual(actual), maps.Clone(s.backoff)
	actions := Diff(s.desired, actual, s.ctx(), s.backoff)
	checkActions(t, actions, s.now)
	if !reflect.DeepEqual(desiredCopy, s.desired) || !reflect.DeepEqual(actualCopy, actual) || !maps.Equal(backoffCopy, s.backoff) {
		t.Fatalf("Diff modified its inputs")
	}
	// Order independence.
	shuffledD, shuffledA := slices.Clone(s.desired), slices.Clone(actual)
	r.Shuffle(len(shuffledD), func(i, j int) { shuffledD[i], shuffledD[j] = shuffledD[j], shuffledD[i] })
	r.Shuffle(len(shuffledA), func(i, j int) { shuffledA[i], shuffledA[j] = shuffledA[j], shuffledA[i] })
	if again := Diff(shuffledD, shuffledA, s.ctx(), s.backoff); !reflect.DeepEqual(again, actions) {
		t.Fatalf("Diff depends on input order:\n%v\n%v", actions, again)
	}
	failed := map[string]bool{}
	for _, a := range actions {
		if !a.Due(s.now) || failed[a.AllocID] {
			continue
		}
		if err := s.eng.Apply(t.Context(), a); err != nil {
			if !errors.Is(err, errInjected) {
				t.Fatalf("round %d: engine refused: %v\nall actions: %v", round, err, actions)
			}
			failed[a.AllocID] = true
			continue
		}
		s.backoff.Record(a, s.now)
	}
	s.backoff.Prune(s.desired)
	return actions, s.eng.step()
}

func cloneDesired(ds []Desired) []Desired {
	out := slices.Clone(ds)
	for i := range out {
		out[i].Pod.Containers = slices.Clone(out[i].Pod.Containers)
	}
	return out
}

func cloneActual(as []Actual) []Actual {
	out := slices.Clone(as)
	for i := range out {
		out[i].Containers = slices.Clone(out[i].Containers)
	}
	return out
}

// converged checks the engine against a model of the desired state written
// independently of Diff.
func (s *scenario) converged() error {
	want := indexDesired(s.desired)
	var errs []string
	bad := func(id, f string, args ...any) { errs = append(errs, id+": "+fmt.Sprintf(f, args...)) }
	for id := range s.eng.pods {
		if _, ok := want[id]; !ok {
			bad(id, "pod of an alloc that is not desired")
		}
	}
	for id, d := range want {
		p := s.eng.pods[id]
		expired := !s.nc.ConnectedToLeader && !s.nc.CutOffSince.IsZero() && s.nc.StopAfter[id] > 0 &&
			s.now.Sub(s.nc.CutOffSince) >= s.nc.StopAfter[id]
		if expired {
			if p != nil && slices.ContainsFunc(p.cs, func(c ContainerState) bool { return c.Running }) {
				bad(id, "runs past its stop-after")
			}
			continue
		}
		if p == nil || !p.sandbox || p.hash != d.Pod.Hash {
			bad(id, "pod missing or stale: %+v", p)
			continue
		}
		if err := modelPod(d.Pod, p); err != "" {
			bad(id, "%s", err)
		}
	}
	if errs != nil {
		slices.Sort(errs)
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// modelPod: the settled state of one pod under its restart policy.
func modelPod(spec PodSpec, p *fakePod) string {
	policy := spec.RestartPolicy
	settledExit := func(init bool, code int) bool { // an exited container nobody restarts
		switch policy {
		case RestartNever:
			return true
		case RestartOnFailure:
			return code == 0
		default:
			return init && code == 0
		}
	}
	for _, c := range p.cs {
		if _, ok := findSpec(spec, c.Name); !ok {
			return fmt.Sprintf("container %q not in spec", c.Name)
		}
	}
	appExists := slices.ContainsFunc(spec.Containers, func(c ContainerSpec) bool { return !c.Init && p.find(c.Name) != nil })
	if !appExists {
		for _, c := range spec.Containers {
			if !c.Init {
				continue
			}
			cs := p.find(c.Name)
			if cs == nil || cs.Running || cs.neverStarted() {
				return fmt.Sprintf("init container %q not finished", c.Name)
			}
			if cs.ExitCode != 0 {
				if policy != RestartNever {
					return fmt.Sprintf("init container %q failed and was not retried", c.Name)
				}
				return "" // the pod failed; nothing more happens
			}
		}
	}
	for _, c := range spec.Containers {
		if c.Init {
			continue
		}
		cs := p.find(c.Name)
		switch {
		case cs == nil || cs.neverStarted():
			return fmt.Sprintf("container %q not started", c.Name)
		case cs.Running && cs.Healthy != nil && !*cs.Healthy:
			return fmt.Sprintf("container %q runs unhealthy", c.Name)
		case !cs.Running && !settledExit(false, cs.ExitCode):
			return fmt.Sprintf("container %q exited %d under %q and was not restarted", c.Name, cs.ExitCode, policy)
		}
	}
	return ""
}

func runScenario(t *testing.T, seed uint64) {
	s := newScenario(seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for round := range maxRounds {
		actions, moved := s.round(t, round, r)
		if t.Failed() {
			t.Fatalf("seed %d round %d", seed, round)
		}
		if len(actions) == 0 && !moved && round >= s.faulty {
			if err := s.converged(); err != nil {
				t.Fatalf("seed %d: no actions after %d rounds, but not converged:\n%v", seed, round, err)
			}
			// Idempotence: later, the same state asks for nothing (when cut
			// off, later may pass a stop-after: only now, then).
			if again := Diff(s.desired, s.eng.actual(), s.ctx(), s.backoff); len(again) != 0 {
				t.Fatalf("seed %d: converged, then %v", seed, again)
			}
			if s.nc.ConnectedToLeader {
				s.now = s.now.Add(time.Hour)
				if again := Diff(s.desired, s.eng.actual(), s.ctx(), s.backoff); len(again) != 0 {
					t.Fatalf("seed %d: converged, an hour later %v", seed, again)
				}
			}
			return
		}
	}
	t.Fatalf("seed %d: no convergence in %d rounds:\n%v", seed, maxRounds, s.converged())
}

func TestDiffConverges(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	for seed := range uint64(n) {
		runScenario(t, seed)
	}
}

// FuzzDiffConverges explores more scenarios: go test -fuzz FuzzDiffConverges.
func FuzzDiffConverges(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(runScenario)
}
