package shim

import "sync"

// subscriberQueue is how many output chunks an attached client may lag
// behind before it is dropped: a stalled client must not stall the container
// or grow the supervisor's memory.
const subscriberQueue = 256

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
}

// subscriber is one attached client's queue. ch is closed when the output
// ends, the client lagged too far (dropped) or it went away (dropped).
type subscriber struct {
	ch      chan chunk
	dropped bool // guarded by fanout.mu
}

func newFanout() *fanout { return &fanout{subs: make(map[*subscriber]struct{})} }

// subscribe adds a client; after the output ended its queue comes closed.
func (f *fanout) subscribe() *subscriber {
	s := &subscriber{ch: make(chan chunk, subscriberQueue)}
	f.mu.Lock()
	defer f.mu.Unlock()
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
	if len(f.subs) == 0 {
		return
	}
	c := chunk{typ: typ, data: append([]byte(nil), p...)}
	for s := range f.subs {
		select {
		case s.ch <- c:
		default:
			f.dropLocked(s)
		}
	}
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
