package api

import (
	"bytes"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	ws := NewFrameWriters(&buf, FrameStdout, FrameStderr)
	if _, err := ws[0].Write([]byte("out")); err != nil {
		t.Fatal(err)
	}
	if _, err := ws[1].Write([]byte("err")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		kind byte
		data string
	}{{FrameStdout, "out"}, {FrameStderr, "err"}} {
		k, p, err := ReadFrame(&buf)
		if err != nil || k != want.kind || string(p) != want.data {
			t.Fatalf("ReadFrame = %d %q %v, want %d %q", k, p, err, want.kind, want.data)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			_, p, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(p) > MaxFrame {
				t.Fatalf("frame of %d bytes accepted", len(p))
			}
		}
	})
}
