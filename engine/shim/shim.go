// Package shim is the per-container supervisor. The agent launches one as
// "kedge __shim" per container, detached in its own session, so the container
// outlives the agent: the supervisor owns the container's stdio (to the log
// file and attached clients), reaps it and records its exit status, and serves
// attach, resize, signal, wait and exec on a unix socket in the container's
// state directory. A restarted agent re-adopts a container with Dial.
//
// # Life of a supervisor
//
// Start runs "BINARY __shim OPTIONS-JSON" with its stdio on /dev/null, in a
// new session, with a ready pipe as fd 3. The supervisor makes itself
// non-dumpable, ignores SIGHUP and SIGPIPE, reads the bundle's config.json,
// creates the container's stdio (pipes, or a pty whose slave becomes the
// container's console), starts the container through engine/runtime, listens
// on its socket and then reports "running, pid N" (or the start error, with
// its kind so that errors.Is(err, runtime.ErrExecNotFound) holds for the
// caller) on the ready pipe. Its own diagnostics (and its stderr, for a Go
// runtime crash) go to StateDir/shim.log.
//
// While the container runs, its stdout and stderr go to the json-file log
// (engine/logs) and to every attached client. When it exits the supervisor
// drains the output, flushes the log, writes the Exit atomically to ExitFile,
// removes the container's cgroup, answers every pending Wait and exits. A
// container that fails to start gets an ExitFile too (code 127, 126 or 125
// and Error) and leaves no process behind.
//
// # Stdin
//
// With OpenStdin the container's stdin is a pipe the supervisor keeps open:
// every attached client that sends stdin writes into it, and a client closing
// its stdin does not close the container's (Docker's -i), except with
// StdinOnce, where the first attached client to close its stdin (or to go
// away) closes the container's (Docker's "run -i" without -d: the container
// sees EOF). With a tty, stdin goes to the pty and is never closed.
//
// # Protocol
//
// The supervisor listens on StateDir/shim.sock. Each operation is one
// connection: the client writes one JSON request line (request), the
// supervisor answers one JSON response line (response); for attach and exec
// both sides then exchange frames until the supervisor closes the connection:
//
//	frame   = type (1 byte) | length (4 bytes, big endian) | payload
//	client: stdin (0) data, stdin-close (3), resize (4: width, height as big-endian uint16)
//	server: stdout (1) data, stderr (2) data, exit (5: JSON Exit), last
//
// With a tty all output arrives as stdout frames. A wait request is answered
// when the container has exited. Unix socket paths are limited to 107 bytes;
// when StateDir/shim.sock is longer, both sides reach it through
// /proc/self/fd/N/shim.sock, N being an open descriptor of StateDir.
package shim

import (
	"io"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Command is the argv[1] under which the kedge binary runs the supervisor.
const Command = "__shim"

// Options describe the container a supervisor runs.
type Options struct {
	// ID is the container id.
	ID string
	// BundleDir holds config.json, the container's OCI runtime spec.
	BundleDir string
	// StateDir is the container's directory under the agent's runtime dir
	// (cleared on reboot): the supervisor's socket and pid file live here.
	StateDir string
	// ExitFile is where the exit status is written (JSON, see Exit) when the
	// container ends; it lives in the persistent data dir.
	ExitFile string
	// LogPath is the container's JSON-lines log file.
	LogPath string
	// LogMaxSize rotates the log at this many bytes (0: never).
	LogMaxSize int64
	// LogMaxFiles is how many log files to keep, the live one included (min 1).
	LogMaxFiles int
	// Tty gives the container a pty instead of pipes.
	Tty bool
	// OpenStdin keeps the container's stdin open for attach (-i).
	OpenStdin bool
	// StdinOnce closes the container's stdin when the first attached client
	// that sent stdin closes it or goes away (Docker's StdinOnce, set by
	// "run -i" in the foreground). Without it stdin stays open across
	// attaches.
	StdinOnce bool
	// HoldOutput keeps the container's output from its start until the
	// first Attach, which receives it before the live output (up to 1 MiB;
	// the log has all of it). It gives "run" in the foreground (create,
	// attach, start) all the output of a quick command. Such a supervisor
	// also waits up to 10 seconds after the container exited for that attach.
	HoldOutput bool
	// Binary is the kedge executable; empty means /proc/self/exe.
	Binary string
}

// Exit is how a container ended, as stored in Options.ExitFile.
type Exit struct {
	// Code is Docker's exit code: the process's code or 128+signal.
	Code int `json:"code"`
	// Signal killed the process when non-zero.
	Signal int `json:"signal,omitempty"`
	// OOMKilled is true when the kernel's OOM killer ended it.
	OOMKilled bool `json:"oom_killed,omitempty"`
	// StartedAt is when the container was started, FinishedAt when its init
	// was reaped (both when the start failed).
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Error says why the container could not start, when it could not.
	Error string `json:"error,omitempty"`
}

// WindowSize is a terminal size in characters.
type WindowSize struct {
	Width, Height uint16
}

// ExecOptions describe a process to add to a running container.
type ExecOptions struct {
	// Process is the process to run (args, env, cwd, user, capabilities,
	// rlimits, no_new_privs); seccomp comes from the container's spec.
	Process *specs.Process
	// Tty allocates a pty for the process.
	Tty bool
	// Size is the pty's initial size when Tty (zero: the kernel's default).
	Size WindowSize
	// Resize, when Tty, delivers later window sizes until the exec ends.
	Resize <-chan WindowSize
	// Stdin, Stdout and Stderr are the process's streams; nil means none.
	// With Tty, output arrives on Stdout only.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Detach returns as soon as the process runs; the supervisor reaps it.
	Detach bool
}

// AttachOptions are the streams of an attach to the container's main process.
// Output written before the attach is not replayed (read the log for it),
// except for the first attach with Options.HoldOutput.
type AttachOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}
