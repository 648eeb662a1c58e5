package shim

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/engine/runtime"
)

// FuzzProtocol feeds arbitrary bytes to what the supervisor parses from a
// client (a request line, then frames) and the client from the supervisor:
// errors are fine, panics and huge allocations are not.
func FuzzProtocol(f *testing.F) {
	var seed bytes.Buffer
	writeLine(&seed, request{Op: opAttach, Stdin: true})
	fw := &frameWriter{w: &seed}
	fw.write(frameStdin, []byte("hello"))
	fw.write(frameResize, resizePayload(WindowSize{Width: 80, Height: 25}))
	fw.write(frameStdinClose, nil)
	f.Add(seed.Bytes())
	f.Add([]byte("{\"op\":\"exec\",\"process\":{\"args\":[\"sh\"]}}\n\x05\xff\xff\xff\xff"))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		var req request
		if readLine(br, &req) != nil {
			return
		}
		var buf []byte
		for range 100 {
			typ, p, err := readFrame(br, buf)
			buf = p
			if err != nil {
				return
			}
			if typ == frameResize {
				parseResize(p)
			}
		}
	})
}

func TestLongRequestLine(t *testing.T) {
	var b bytes.Buffer
	env := make([]string, 2000)
	for i := range env {
		env[i] = "VARIABLE_WITH_A_LONG_NAME=and a long value as well"
	}
	writeLine(&b, request{Op: opExec, Process: &specs.Process{Args: []string{"env"}, Env: env}})
	var req request
	if err := readLine(bufio.NewReaderSize(&b, 4096), &req); err != nil || len(req.Process.Env) != 2000 {
		t.Fatalf("long line: %v", err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	fw := &frameWriter{w: &b}
	fw.write(frameStdout, []byte("out"))
	fw.write(frameStderr, nil)
	fw.write(frameResize, resizePayload(WindowSize{Width: 120, Height: 40}))
	br := bufio.NewReader(&b)
	for _, want := range []struct {
		typ byte
		p   string
	}{{frameStdout, "out"}, {frameStderr, ""}} {
		typ, p, err := readFrame(br, nil)
		if err != nil || typ != want.typ || string(p) != want.p {
			t.Fatalf("frame %d %q %v, want %d %q", typ, p, err, want.typ, want.p)
		}
	}
	_, p, _ := readFrame(br, nil)
	if ws, ok := parseResize(p); !ok || ws.Width != 120 || ws.Height != 40 {
		t.Fatalf("resize %+v %v", ws, ok)
	}
	big := []byte{frameStdout, 0xff, 0xff, 0xff, 0xff}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(big)), nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestErrorKindsSurviveTheWire(t *testing.T) {
	for _, sentinel := range []error{runtime.ErrExecNotFound, runtime.ErrExecPermission, ErrNotRunning, ErrNoTty} {
		wrapped := errors.Join(errors.New("context"), sentinel)
		got := toWire(wrapped).err()
		if !errors.Is(got, sentinel) || got.Error() != wrapped.Error() {
			t.Fatalf("%v came back as %v", sentinel, got)
		}
	}
	if got := toWire(errors.New("other")).err(); errors.Unwrap(got) != nil {
		t.Fatalf("plain error gained a kind: %v", got)
	}
}

func TestFanoutDropsLaggards(t *testing.T) {
	f := newFanout(false)
	slow, fast := f.subscribe(), f.subscribe()
	for i := range subscriberQueue + 1 {
		f.publish(frameStdout, []byte{byte(i)})
		if i < subscriberQueue {
			<-fast.ch
		}
	}
	<-fast.ch
	if !f.wasDropped(slow) || f.wasDropped(fast) {
		t.Fatal("the lagging subscriber was not the one dropped")
	}
	f.end()
	if _, ok := <-fast.ch; ok || f.wasDropped(fast) {
		t.Fatal("end did not close the queue as a normal end")
	}
	late := f.subscribe()
	if _, ok := <-late.ch; ok {
		t.Fatal("subscriber after the end got an open queue")
	}
}

func TestFanoutHoldsForFirstSubscriber(t *testing.T) {
	f := newFanout(true)
	f.publish(frameStdout, []byte("early"))
	f.publish(frameStderr, []byte("warn"))
	f.end()
	if f.unclaimed() == nil {
		t.Fatal("held output not reported unclaimed")
	}
	first := f.subscribe()
	if len(first.pre) != 2 || string(first.pre[0].data) != "early" || first.pre[1].typ != frameStderr {
		t.Fatalf("first subscriber got %+v", first.pre)
	}
	if f.unclaimed() != nil || f.subscribe().pre != nil {
		t.Fatal("held output given twice")
	}
}
