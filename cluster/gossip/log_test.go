package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogsGoToSlog(t *testing.T) {
	for line, want := range map[string]struct {
		level slog.Level
		msg   string
	}{
		"[DEBUG] memberlist: Stream connection from=127.0.0.1:1234\n":  {slog.LevelDebug, "Stream connection from=127.0.0.1:1234"},
		"[INFO] memberlist: Suspect n2 has failed, no acks received\n": {slog.LevelInfo, "Suspect n2 has failed, no acks received"},
		"[WARN] memberlist: Refuting a suspect message (from: n1)\n":   {slog.LevelWarn, "Refuting a suspect message (from: n1)"},
		"[ERR] memberlist: Failed fallback TCP ping: EOF\n":            {slog.LevelError, "Failed fallback TCP ping: EOF"},
		"[ERROR] something\n":     {slog.LevelError, "something"},
		"no tag at all\n":         {slog.LevelInfo, "no tag at all"},
		"[WEIRD] memberlist: x\n": {slog.LevelInfo, "[WEIRD] memberlist: x"},
	} {
		lvl, msg := parseStdLine([]byte(line))
		if lvl != want.level || msg != want.msg {
			t.Errorf("%q: %v %q, want %v %q", line, lvl, msg, want.level, want.msg)
		}
	}

	var buf bytes.Buffer
	l := newStdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), nil)
	l.Printf("[DEBUG] memberlist: hidden")
	l.Printf("[WARN] memberlist: shown %d", 1)
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "level=WARN msg=\"shown 1\" from=memberlist") {
		t.Errorf("slog output: %q", out)
	}
}
