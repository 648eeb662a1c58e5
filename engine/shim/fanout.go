package shim

import "sync"

// subscriberQueue is how many output chunks an attached client may lag
// behind before it is dropped: a stalled client must not stall the container
// or grow the supervisor's memory.
const subscriberQueue = 256

// holdLimit bounds the output kept for the first attach (Options.HoldOutput);
// beyond it early output is only in the log.
const holdLimit = 1 << 20

// chunk is one piece of output for attached clients.
type chunk struct {
	typ  byte // frameStdout or frameStderr
	data []byte
}

// fanout copies the container's output to every attached client.
type fanout struct {
	mu    sync.Mutex
	subs  map[*subscriber]struct{}
	ended bool

	// With HoldOutput: the output so far, until the first subscriber
	// takes it; claimed is closed then.
	holding   bool
	held      []chunk
	heldBytes int
	claimed   chan struct{}
}

// subscriber is one attached client's queue. ch is closed when the output
// ends, the client lagged too far (dropped) or it went away (dropped).
type subscriber struct {
	pre     []chunk // held output, to send before ch
	ch      chan chunk
	dropped bool // guarded by fanout.mu
}

// newFanout makes a fanout; with hold it keeps the output for the first
// subscriber.
func newFanout(hold bool) *fanout {
	return &fanout{subs: make(map[*subscriber]struct{}), holding: hold, claimed: make(chan struct{})}
}

// subscribe adds a client; after the output ended its queue comes closed.
// The first client of a holding fanout gets the output so far in pre.
func (f *fanout) subscribe() *subscriber {
	s := &subscriber{ch: make(chan chunk, subscriberQueue)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holding {
		s.pre, f.held, f.holding = f.held, nil, false
		close(f.claimed)
	}
	if f.ended {
		close(s.ch)
	} else {
		f.subs[s] = struct{}{}
	}
	return s
}

// unsubscribe removes a client that went away.
func (f *fanout) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(s)
}

func (f *fanout) dropLocked(s *subscriber) {
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		s.dropped = true
		close(s.ch)
	}
}

// wasDropped reports whether s ended for another reason than the output's end.
func (f *fanout) wasDropped(s *subscriber) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return s.dropped
}

// publish queues a copy of p for every client, dropping those that lag.
func (f *fanout) publish(typ byte, p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 && (!f.holding || f.heldBytes >= holdLimit) {
		return
	}
	c := chunk{typ: typ, data: append([]byte(nil), p...)}
	if f.holding && f.heldBytes < holdLimit {
		f.held = append(f.held, c)
		f.heldBytes += len(p)
	}
	for s := range f.subs {
		select {
		case s.ch <- c:
		default:
			f.dropLocked(s)
		}
	}
}

// unclaimed is closed once a holding fanout's output was taken; it is nil
// when nothing is held.
func (f *fanout) unclaimed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.holding {
		return nil
	}
	return f.claimed
}

// end closes every queue: the output is over.
func (f *fanout) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
}
