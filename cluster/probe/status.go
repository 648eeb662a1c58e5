package probe

import "kedge/api"

// Status is what the probes of one container say.
type Status struct {
	// Started: the container has no startup probe, or it has passed.
	Started bool
	// Live: neither the startup nor the liveness probe has failed. False
	// means the container must be killed; it stays false until the target
	// restarts (new StartedAt) or goes.
	Live bool
	// Ready: started, live, and no readiness probe or it has passed.
	Ready bool
	// Failures counts the checks in a row that failed of the probe that
	// failed last; LastError is the latest of them ("liveness: GET ...").
	// Both clear when that probe passes a check again.
	Failures  int
	LastError string
}

// flips reports whether s and o differ in Started, Live or Ready.
func (s Status) flips(o Status) bool {
	return s.Started != o.Started || s.Live != o.Live || s.Ready != o.Ready
}

// PodReady reports whether a pod whose containers have these results is
// ready: every one is. A pod without containers is not.
func PodReady(results ...Status) bool {
	for _, r := range results {
		if !r.Ready {
			return false
		}
	}
	return len(results) > 0
}

// outcome is a probe's result after the thresholds.
type outcome int8

const (
	pending outcome = iota // not yet flipped either way
	passed
	failed
)

func (o outcome) String() string {
	switch o {
	case passed:
		return "passed"
	case failed:
		return "failed"
	}
	return "pending"
}

// probeState is one probe of a target: its fixed spec and settings, and the
// counters its worker updates under the Manager's lock.
type probeState struct {
	spec *api.Probe // nil: the container has no such probe
	set  settings

	outcome   outcome
	successes int // checks in a row that passed
	failures  int // checks in a row that failed
	lastErr   string
}

// record counts one check (err nil is a pass) and flips the outcome when a
// threshold is reached; it reports whether the outcome changed.
func (p *probeState) record(err error) bool {
	was := p.outcome
	if err == nil {
		p.successes++
		p.failures, p.lastErr = 0, ""
		if p.successes >= p.set.success {
			p.outcome = passed
		}
	} else {
		p.failures++
		p.successes, p.lastErr = 0, err.Error()
		if p.failures >= p.set.failure {
			p.outcome = failed
		}
	}
	return p.outcome != was
}

// status composes a target's Status from its probes; lastFail is the kind
// that failed last, or -1.
func status(probes *[numKinds]probeState, lastFail Kind) Status {
	startup, live, ready := &probes[Startup], &probes[Liveness], &probes[Readiness]
	var s Status
	s.Started = startup.spec == nil || startup.outcome == passed
	s.Live = startup.outcome != failed && live.outcome != failed
	s.Ready = s.Started && s.Live && (ready.spec == nil || ready.outcome == passed)
	if lastFail >= 0 {
		if p := &probes[lastFail]; p.failures > 0 {
			s.Failures, s.LastError = p.failures, lastFail.String()+": "+p.lastErr
		}
	}
	return s
}
