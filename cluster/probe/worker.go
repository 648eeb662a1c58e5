package probe

import "time"

// run is the worker of probe kind k of target e: it waits for the startup
// gate and the initial delay, then checks every period until e is stopped
// or the probe is done (see record).
func (m *Manager) run(e *entry, k Kind) {
	p := &e.probes[k] // spec and set are fixed; the counters belong to m.mu
	if k != Startup {
		select {
		case <-e.ctx.Done():
			return
		case <-e.started:
		}
	}
	if d := time.Until(e.origin.Add(p.set.initialDelay)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	tick := time.NewTicker(p.set.period)
	defer tick.Stop()
	for {
		err := m.check.check(e.ctx, &e.target, p.spec, p.set.timeout)
		if !m.record(e, k, err) {
			return
		}
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
	}
}
