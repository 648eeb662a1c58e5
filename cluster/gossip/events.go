package gossip

import (
	"context"
	"log/slog"
	"sync"
)

// eventQueue carries events from memberlist's callbacks, which must not
// block, to one goroutine that logs them and calls Config.OnEvent. It is bounded: when the consumer
// falls maxQueuedEvents behind, new events are dropped and counted (Members
// stays exact either way).
type eventQueue struct {
	log  *slog.Logger
	wake chan struct{} // capacity 1

	mu      sync.Mutex
	q       []Event
	dropped int
	closed  bool
}

func newEventQueue(log *slog.Logger) *eventQueue {
	return &eventQueue{log: log, wake: make(chan struct{}, 1)}
}

// push queues e without blocking.
func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	switch {
	case q.closed:
	case len(q.q) >= maxQueuedEvents:
		q.dropped++ // logged by run: push may not log (memberlist's lock is held)
	default:
		q.q = append(q.q, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run logs each event and calls fn (if not nil) in order until stop is
// closed. Events still queued at stop are discarded.
func (q *eventQueue) run(fn func(Event), stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			q.mu.Lock()
			q.closed, q.q = true, nil
			q.mu.Unlock()
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch, dropped := q.q, q.dropped
		q.q, q.dropped = nil, 0
		q.mu.Unlock()
		if dropped > 0 {
			q.log.Warn("dropped membership events", "count", dropped)
		}
		for _, e := range batch {
			select {
			case <-stop:
				continue
			default:
			}
			q.logEvent(e)
			if fn != nil {
				fn(e)
			}
		}
	}
}

func (q *eventQueue) logEvent(e Event) {
	lvl := slog.LevelInfo
	if e.Kind == EventUpdate {
		lvl = slog.LevelDebug
	}
	m := e.Member
	q.log.Log(context.Background(), lvl, "member "+e.Kind.String(), "peer", m.ID, "name", m.Meta.Name, "addr", m.Addr)
}
