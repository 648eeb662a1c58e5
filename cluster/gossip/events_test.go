package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEventQueueOrderAndBound(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	q := newEventQueue(slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	for i := range maxQueuedEvents + 10 {
		q.push(Event{Kind: EventJoin, Member: Member{Since: testTime(i)}})
	}
	stop := make(chan struct{})
	got := make(chan Event, maxQueuedEvents+10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(func(e Event) { got <- e }, stop)
	}()
	for i := range maxQueuedEvents {
		if e := <-got; !e.Member.Since.Equal(testTime(i)) {
			t.Fatalf("event %d out of order: %v", i, e.Member.Since)
		}
	}
	close(stop)
	<-done
	if len(got) != 0 {
		t.Errorf("%d events beyond the bound were delivered", len(got))
	}
	q.push(Event{Kind: EventDead}) // after stop: dropped, does not block
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "dropped membership events") || !strings.Contains(logs.String(), "count=10") {
		t.Errorf("no warning about the 10 dropped events: %q", logs.String())
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func testTime(i int) time.Time { return time.Unix(int64(i), 0) }
