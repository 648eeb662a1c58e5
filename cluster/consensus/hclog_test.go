package consensus

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	raftLog := newHclog(base, "raft", slog.LevelDebug)
	records := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("bad log line %q: %v", line, err)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	// Raft's Info is demoted to Debug: quiet at Info.
	raftLog.Info("entering follower state", "k", "v")
	raftLog.Debug("chatter")
	if r := records(); len(r) != 0 {
		t.Fatalf("info/debug logged at Info level: %v", r)
	}
	if raftLog.IsInfo() || !raftLog.IsWarn() {
		t.Fatal("IsInfo/IsWarn do not follow the mapped levels")
	}

	raftLog.Named("transport").With("peer", "n2").Warn("failed to heartbeat", "error", "boom")
	r := records()
	if len(r) != 1 || r[0]["level"] != "WARN" || r[0]["subsystem"] != "raft.transport" || r[0]["peer"] != "n2" || r[0]["error"] != "boom" {
		t.Fatalf("warn record: %v", r)
	}

	// The same message again within the window is suppressed.
	raftLog.Named("transport").Warn("failed to heartbeat")
	raftLog.Named("transport").Error("other message")
	r = records()
	if len(r) != 1 || r[0]["msg"] != "other message" || r[0]["level"] != "ERROR" {
		t.Fatalf("after a repeat: %v", r)
	}

	// Autopilot keeps Info at Info.
	pilot := newHclog(base, "", slog.LevelInfo).Named("autopilot")
	pilot.Info("Promoting server", "id", "n2")
	r = records()
	if len(r) != 1 || r[0]["level"] != "INFO" || r[0]["subsystem"] != "autopilot" {
		t.Fatalf("autopilot info: %v", r)
	}
	if got := pilot.ResetNamed("x").Name(); got != "x" {
		t.Fatalf("ResetNamed name %q", got)
	}

	// SetLevel filters on hclog levels; the standard logger writes through.
	pilot.SetLevel(hclog.Error)
	pilot.Warn("hidden")
	pilot.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERROR] from std")
	r = records()
	if len(r) != 1 || r[0]["msg"] != "from std" || r[0]["level"] != "ERROR" {
		t.Fatalf("after SetLevel: %v", r)
	}
}
