package consensus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is an hclog.Logger (what raft and autopilot log to) writing to
// a *slog.Logger.
//
// Levels map Trace→Debug-4, Debug→Debug, Warn→Warn, Error→Error, and Info to
// the adapter's infoLevel: raft logs every state transition and connection at
// Info, so its Info goes to slog Debug and a production agent at Info shows
// only raft's warnings and errors (this package logs leader changes itself).
//
// A dead peer makes raft log the same heartbeat error several times a second;
// a Warn/Error message text of one subsystem is therefore let through at
// most once per repeatWindow, whatever its arguments (so a second failing
// peer may go unmentioned for that long), with the number suppressed since.
type hclogAdapter struct {
	root      *slog.Logger // the caller's logger
	base      *slog.Logger // root with the subsystem name and implied arguments
	name      string
	implied   []any
	infoLevel slog.Level
	level     *atomic.Int32 // hclog.Level; shared with loggers derived by With/Named
	limiter   *repeatLimiter
}

var _ hclog.Logger = (*hclogAdapter)(nil)

const repeatWindow = 5 * time.Second

func newHclog(l *slog.Logger, name string, infoLevel slog.Level) *hclogAdapter {
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.Trace))
	a := &hclogAdapter{
		root: l, base: l, infoLevel: infoLevel, level: lvl,
		limiter: &repeatLimiter{window: repeatWindow, seen: map[string]*repeatEntry{}},
	}
	return a.named(name, false)
}

func (a *hclogAdapter) slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Trace:
		return slog.LevelDebug - 4
	case l == hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return a.infoLevel
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	if l == hclog.Off || l < hclog.Level(a.level.Load()) {
		return false
	}
	return a.base.Enabled(context.Background(), a.slogLevel(l))
}

// Log emits msg at level with hclog-style key/value args.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if !a.enabled(level) {
		return
	}
	if len(args) > 0 {
		if f, ok := args[0].(hclog.Format); ok && len(f) > 0 {
			msg = msg + ": " + fmt.Sprintf(fmt.Sprint(f[0]), f[1:]...)
			args = args[1:]
		}
	}
	if level >= hclog.Warn {
		ok, suppressed := a.limiter.allow(a.name + "\x00" + msg)
		if !ok {
			return
		}
		if suppressed > 0 {
			args = append(args, "repeats_suppressed", suppressed)
		}
	}
	a.base.Log(context.Background(), a.slogLevel(level), msg, args...)
}

// Trace logs at hclog Trace.
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }

// Debug logs at hclog Debug.
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }

// Info logs at hclog Info.
func (a *hclogAdapter) Info(msg string, args ...any) { a.Log(hclog.Info, msg, args...) }

// Warn logs at hclog Warn.
func (a *hclogAdapter) Warn(msg string, args ...any) { a.Log(hclog.Warn, msg, args...) }

// Error logs at hclog Error.
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

// IsTrace reports whether Trace messages are emitted.
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }

// IsDebug reports whether Debug messages are emitted.
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }

// IsInfo reports whether Info messages are emitted.
func (a *hclogAdapter) IsInfo() bool { return a.enabled(hclog.Info) }

// IsWarn reports whether Warn messages are emitted.
func (a *hclogAdapter) IsWarn() bool { return a.enabled(hclog.Warn) }

// IsError reports whether Error messages are emitted.
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs returns the arguments added by With.
func (a *hclogAdapter) ImpliedArgs() []any { return append([]any(nil), a.implied...) }

// With returns a logger that adds args to every message.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	c.base = a.base.With(args...)
	return &c
}

// Name returns the logger's name.
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a logger whose name is extended by name.
func (a *hclogAdapter) Named(name string) hclog.Logger { return a.named(name, false) }

// ResetNamed returns a logger whose name is name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger { return a.named(name, true) }

// named derives a logger with a new name. The name is attached as the
// "subsystem" attribute when messages are written, so that renaming does not
// stack attributes.
func (a *hclogAdapter) named(name string, reset bool) *hclogAdapter {
	c := *a
	switch {
	case reset || a.name == "":
		c.name = name
	case name != "":
		c.name = a.name + "." + name
	}
	c.base = a.root.With("subsystem", c.name)
	if len(c.implied) > 0 {
		c.base = c.base.With(c.implied...)
	}
	return &c
}

// SetLevel sets the lowest hclog level emitted (shared with derived loggers).
func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

// GetLevel returns the lowest hclog level emitted.
func (a *hclogAdapter) GetLevel() hclog.Level { return hclog.Level(a.level.Load()) }

// StandardLogger returns a *log.Logger writing through this logger.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns an io.Writer whose lines are logged at Info, or at
// the level named by a "[WARN]"-style prefix when opts.InferLevels is set.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{l: a, infer: opts.InferLevels || opts.InferLevelsWithTimestamp, force: opts.ForceLevel}
}

type stdWriter struct {
	l     *hclogAdapter
	infer bool
	force hclog.Level
}

func (w *stdWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(bytes.TrimRight(p, "\n")), "\n") {
		level := hclog.Info
		if w.force != hclog.NoLevel {
			level = w.force
		} else if w.infer {
			level, line = inferLevel(line)
		}
		w.l.Log(level, line)
	}
	return len(p), nil
}

func inferLevel(line string) (hclog.Level, string) {
	prefixes := []struct {
		p string
		l hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
	}
	for _, p := range prefixes {
		if i := strings.Index(line, p.p); i >= 0 {
			return p.l, strings.TrimSpace(line[i+len(p.p):])
		}
	}
	return hclog.Info, line
}

// repeatLimiter lets a given message through at most once per window.
type repeatLimiter struct {
	window time.Duration
	mu     sync.Mutex
	seen   map[string]*repeatEntry // keys are log message texts: a small, fixed set
}

type repeatEntry struct {
	last       time.Time
	suppressed int
}

// allow reports whether key may be logged now and how many times it was
// suppressed since it was last logged.
func (r *repeatLimiter) allow(key string) (bool, int) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.seen[key]
	if e == nil {
		r.seen[key] = &repeatEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < r.window {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}
