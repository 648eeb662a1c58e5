package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// slogWriter is an io.Writer for a *log.Logger without prefix or flags: it
// turns memberlist's "[LEVEL] memberlist: message" lines into slog records.
// log.Logger calls Write once per message, serialised.
// It also spots memberlist's line for a failed probe and passes the member
// name to onSuspect (if set): that line is the only sign of suspicion
// memberlist gives (see suspect.go).
type slogWriter struct {
	logger    *slog.Logger
	onSuspect func(id string)
}

// newStdLogger returns a standard logger that forwards to l and reports
// failed probes to onSuspect.
func newStdLogger(l *slog.Logger, onSuspect func(id string)) *log.Logger {
	return log.New(slogWriter{logger: l, onSuspect: onSuspect}, "", 0)
}

// Write logs p as one record. It never fails.
func (w slogWriter) Write(p []byte) (int, error) {
	level, msg := parseStdLine(p)
	if w.onSuspect != nil {
		if id, ok := suspectFromLog(msg); ok {
			w.onSuspect(id)
		}
	}
	ctx := context.Background()
	if w.logger.Enabled(ctx, level) {
		w.logger.Log(ctx, level, msg, "from", "memberlist")
	}
	return len(p), nil
}

// parseStdLine splits a memberlist log line into its level and message.
// Lines without a known level tag are logged at Info.
func parseStdLine(p []byte) (slog.Level, string) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	if len(line) > 0 && line[0] == '[' {
		if end := bytes.IndexByte(line, ']'); end > 0 {
			known := true
			switch string(line[1:end]) {
			case "TRACE":
				level = slog.LevelDebug - 4
			case "DEBUG":
				level = slog.LevelDebug
			case "INFO":
				level = slog.LevelInfo
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			default:
				known = false
			}
			if known {
				line = bytes.TrimSpace(line[end+1:])
			}
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	return level, string(line)
}
