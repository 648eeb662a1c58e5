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
type slogWriter struct {
	logger *slog.Logger
}

// newStdLogger returns a standard logger that forwards to l.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{logger: l}, "", 0)
}

// Write logs p as one record. It never fails.
func (w slogWriter) Write(p []byte) (int, error) {
	level, msg := parseStdLine(p)
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
