package engine

import (
	"context"
	"sync"
	"time"

	"kedge/api"
)

// eventBus keeps the recent events in a ring and fans new ones out to
// subscribers. A subscriber that cannot keep up loses events rather than
// blocking the engine.
type eventBus struct {
	mu   sync.Mutex
	ring []api.Event
	next int
	full bool
	subs map[chan api.Event]struct{}
}

func newEventBus(size int) *eventBus {
	return &eventBus{ring: make([]api.Event, size), subs: map[chan api.Event]struct{}{}}
}

func (b *eventBus) publish(ev api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring[b.next] = ev
	b.next = (b.next + 1) % len(b.ring)
	if b.next == 0 {
		b.full = true
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// since returns the stored events at or after t, oldest first.
func (b *eventBus) since(t time.Time) []api.Event {
	var out []api.Event
	n := b.next
	if b.full {
		n = len(b.ring)
	}
	start := 0
	if b.full {
		start = b.next
	}
	for i := 0; i < n; i++ {
		ev := b.ring[(start+i)%len(b.ring)]
		if !ev.Time.Before(t) {
			out = append(out, ev)
		}
	}
	return out
}

// Events calls fn for the stored events since `since` (when non-zero), then
// for each new event until ctx ends or fn fails.
func (e *Engine) Events(ctx context.Context, since time.Time, fn func(api.Event) error) error {
	ch := make(chan api.Event, 256)
	e.events.mu.Lock()
	var backlog []api.Event
	if !since.IsZero() {
		backlog = e.events.since(since)
	}
	e.events.subs[ch] = struct{}{}
	e.events.mu.Unlock()
	defer func() {
		e.events.mu.Lock()
		delete(e.events.subs, ch)
		e.events.mu.Unlock()
	}()
	for _, ev := range backlog {
		if err := fn(ev); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}

// emit publishes an event about a container.
func (e *Engine) emit(typ, action, id string, attrs map[string]string) {
	e.events.publish(api.Event{Time: time.Now().UTC(), Type: typ, Action: action, ID: id, Attrs: attrs})
}
