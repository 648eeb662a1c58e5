package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func readAll(t *testing.T, path string, opts ReadOptions) []Entry {
	t.Helper()
	var got []Entry
	err := Read(context.Background(), path, opts, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

func texts(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Stream + ":" + e.Log
	}
	return out
}

func TestWriteReadStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range []string{Stdout, Stderr} {
		wg.Go(func() {
			out := w.Stream(s)
			for i := range 200 {
				// Split lines across writes to exercise the pending buffer.
				fmt.Fprintf(out, "%s line", s)
				fmt.Fprintf(out, " %d\n", i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, path, ReadOptions{Tail: -1})
	if len(got) != 400 {
		t.Fatalf("got %d entries, want 400", len(got))
	}
	next := map[string]int{}
	for _, e := range got {
		want := fmt.Sprintf("%s line %d\n", e.Stream, next[e.Stream])
		if e.Log != want {
			t.Fatalf("entry %q, want %q", e.Log, want)
		}
		next[e.Stream]++
		if time.Since(e.Time) > time.Minute || e.Time.Location() != time.UTC {
			t.Fatalf("bad time %v", e.Time)
		}
	}
	raw, _ := os.ReadFile(path)
	first := strings.SplitN(string(raw), "\n", 2)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil || len(m) != 3 {
		t.Fatalf("line %q is not Docker's json-file shape: %v", first, err)
	}
}

func TestLongLinesAndPartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 2*MaxLineSize+100)
	if err := w.Write(Stdout, []byte(long+"\nprompt> ")); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Stderr, []byte("bad \xff\x00 \"q\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.EndStream(Stdout); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := readAll(t, path, ReadOptions{Tail: -1})
	want := []string{
		"stdout:" + long[:MaxLineSize],
		"stdout:" + long[:MaxLineSize],
		"stdout:" + long[:100] + "\n",
		"stderr:bad \ufffd\x00 \"q\"\n",
		"stdout:prompt> ",
	}
	if fmt.Sprint(texts(got)) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", texts(got), want)
	}
}

func writeLines(t testing.TB, w *Writer, from, to int) {
	for i := from; i < to; i++ {
		if err := w.Write(Stdout, fmt.Appendf(nil, "line %05d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotationAndTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	w, err := NewWriter(path, 2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, 0, 1000)
	w.Close()
	for _, name := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatalf("missing %s: %v", name, err)
		}
		if st.Size() > 2000 {
			t.Fatalf("%s is %d bytes, over the limit", name, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatal("kept more files than maxFiles")
	}
	all := readAll(t, path, ReadOptions{Tail: -1})
	if len(all) == 0 || all[len(all)-1].Log != "line 00999\n" {
		t.Fatalf("last entry %v", all[len(all)-1:])
	}
	for i := 1; i < len(all); i++ { // contiguous, oldest first
		var a, b int
		fmt.Sscanf(all[i-1].Log, "line %d", &a)
		fmt.Sscanf(all[i].Log, "line %d", &b)
		if b != a+1 {
			t.Fatalf("gap between %q and %q", all[i-1].Log, all[i].Log)
		}
	}
	// A tail larger than the live file reaches into the rotated ones.
	for _, n := range []int{0, 1, 5, 40, len(all), len(all) + 10} {
		got := readAll(t, path, ReadOptions{Tail: n})
		want := min(n, len(all))
		if len(got) != want {
			t.Fatalf("tail %d: got %d entries", n, len(got))
		}
		if want > 0 && got[0].Log != all[len(all)-want].Log {
			t.Fatalf("tail %d starts at %q", n, got[0].Log)
		}
	}
}

func TestTruncateWithOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 500, 1)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, 0, 100)
	w.Close()
	got := readAll(t, path, ReadOptions{Tail: -1})
	if len(got) == 0 || got[len(got)-1].Log != "line 00099\n" {
		t.Fatalf("got %v", texts(got))
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		t.Fatal("rotated although maxFiles is 1")
	}
}

func TestSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var sb strings.Builder
	for i := range 10 {
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		fmt.Fprintf(&sb, `{"log":"%d\n","stream":"stdout","time":"%s"}`+"\n", i, ts)
	}
	os.WriteFile(path, []byte(sb.String()), 0o600)
	got := readAll(t, path, ReadOptions{Tail: -1, Since: base.Add(3 * time.Second), Until: base.Add(6 * time.Second)})
	if fmt.Sprint(texts(got)) != fmt.Sprint([]string{"stdout:3\n", "stdout:4\n", "stdout:5\n", "stdout:6\n"}) {
		t.Fatalf("got %q", texts(got))
	}
	// Tail counts lines before filtering, like Docker.
	got = readAll(t, path, ReadOptions{Tail: 2, Since: base.Add(3 * time.Second)})
	if len(got) != 2 || got[0].Log != "8\n" {
		t.Fatalf("got %q", texts(got))
	}
}

func TestTruncatedLastLineAndGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	content := "garbage\n{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n\n" +
		`{"log":"b\n","stream":"stdout","ti`
	os.WriteFile(path, []byte(content), 0o600)
	got := readAll(t, path, ReadOptions{Tail: -1})
	if len(got) != 1 || got[0].Log != "a\n" {
		t.Fatalf("got %q", texts(got))
	}
	// A follower sees the line once the writer finishes it.
	done := make(chan struct{})
	var mu sync.Mutex
	var followed []string
	errc := make(chan error, 1)
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Done: done}, func(e Entry) error {
			mu.Lock()
			followed = append(followed, e.Log)
			mu.Unlock()
			return nil
		})
	}()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`me":"2026-01-01T00:00:01Z"}` + "\n")
	f.Close()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(followed) == 2 })
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if followed[1] != "b\n" {
		t.Fatalf("followed %q", followed)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 4000, 50)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, 0, 10)
	fdsBefore := openFDs(t)
	done := make(chan struct{})
	var mu sync.Mutex
	var got []string
	errc := make(chan error, 1)
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Tail: 3, Follow: true, Done: done}, func(e Entry) error {
			mu.Lock()
			got = append(got, e.Log)
			mu.Unlock()
			return nil
		})
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	// Rotate while the follower runs: bursts of several rotations, faster
	// than it polls, then let it catch up.
	for i := 10; i < 2000; i += 200 {
		writeLines(t, w, i, i+200)
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == i+200-7 })
	}
	if n := openFDs(t); n > fdsBefore+2 {
		t.Fatalf("the follower holds %d more descriptors after rotations", n-fdsBefore)
	}
	w.Close()
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Logf("out of order at %d: %q after %q", i, got[i], got[i-1])
		}
	}
	if len(got) != 2003 {
		t.Fatalf("followed %d entries, want 2003", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %05d\n", i+7); l != want {
			t.Fatalf("entry %d = %q, want %q", i, l, want)
		}
	}
}

func TestFollowStopsAtUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeLines(t, w, 0, 3)
	errc := make(chan error, 1)
	var n atomic.Int64
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Until: time.Now().Add(100 * time.Millisecond)}, func(Entry) error {
			n.Add(1)
			return nil
		})
	}()
	select {
	case err := <-errc:
		if err != nil || n.Load() != 3 {
			t.Fatalf("follow until: %v, %d entries", err, n.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow went on past Until")
	}
}

func TestFollowStopsOnContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.log")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, func(Entry) error { return nil })
	}()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop")
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"log":"a\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}`+"\n"), 1)
	f.Add([]byte("\n\n{\"log\":\n{}\n"), -1)
	f.Add([]byte(`{"log":"\ud800","stream":"x","time":"bogus"}`), 3)
	f.Add([]byte(strings.Repeat("x", 200000)+"\n{}"), 0)
	f.Fuzz(func(t *testing.T, data []byte, tail int) {
		dir := t.TempDir()
		path := filepath.Join(dir, "c.log")
		os.WriteFile(path, data, 0o600)
		os.WriteFile(path+".1", data, 0o600)
		done := make(chan struct{})
		close(done)
		for _, follow := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			Read(ctx, path, ReadOptions{Tail: tail % 50, Follow: follow, Done: done}, func(e Entry) error { return nil })
			if ctx.Err() != nil {
				t.Fatal("Read hung on garbage")
			}
			cancel()
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("\x00\x1f\"\\\n\r\t\xff\xe2\x80\xa8 é"))
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", enc, err)
		}
		want, _ := json.Marshal(string(s))
		var wantS string
		json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("decoded %q, want %q", got, wantS)
		}
	})
}

func BenchmarkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c.log")
	w, err := NewWriter(path, 10<<20, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	chunk := []byte(strings.Repeat("a typical log line with some text in it: 12345\n", 20))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(Stdout, chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
