// Package shim is the per-container supervisor. The agent launches one as
// "kedge __shim" per container, detached in its own session, so the container
// outlives the agent: the supervisor owns the container's stdio (to the log
// file and attached clients), reaps it and records its exit status, and serves
// attach, resize, signal, wait and exec on a unix socket in the container's
// state directory. A restarted agent re-adopts a container with Dial.
package shim

// CONTRACT STUBS: replaced by the real implementation.

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Command is the argv[1] under which the kedge binary runs the supervisor.
const Command = "__shim"

var errTODO = errors.New("shim: not implemented")

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
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Error says why the container could not start, when it could not.
	Error string `json:"error,omitempty"`
}

// ExecOptions describe a process to add to a running container.
type ExecOptions struct {
	// Process is the process to run (args, env, cwd, user, capabilities,
	// rlimits, no_new_privs); seccomp comes from the container's spec.
	Process *specs.Process
	// Tty allocates a pty for the process.
	Tty bool
	// Stdin, Stdout and Stderr are the process's streams; nil means none.
	// With Tty, output arrives on Stdout only.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Detach returns as soon as the process runs; the supervisor reaps it.
	Detach bool
}

// AttachOptions are the streams of an attach to the container's main process.
type AttachOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Client talks to one container's supervisor.
type Client struct{}

// Start launches a detached supervisor for the container and returns once the
// container's process runs. A failure to start is returned with the runtime's
// sentinel errors intact (errors.Is(err, runtime.ErrExecNotFound)), and the
// supervisor has then exited, leaving no process or cgroup behind.
func Start(ctx context.Context, opts Options) (*Client, error) { return nil, errTODO }

// Dial connects to the supervisor whose state directory is stateDir, after an
// agent restart. It fails when no supervisor serves there.
func Dial(ctx context.Context, stateDir string) (*Client, error) { return nil, errTODO }

// ReadExit reads an exit file written by a supervisor.
func ReadExit(path string) (*Exit, error) { return nil, errTODO }

// Pid is the container's init process id on the host.
func (c *Client) Pid() int { return 0 }

// Wait blocks until the container exits (or ctx ends) and returns its exit.
func (c *Client) Wait(ctx context.Context) (*Exit, error) { return nil, errTODO }

// Signal sends sig to the container's init.
func (c *Client) Signal(ctx context.Context, sig syscall.Signal) error { return errTODO }

// Attach connects streams to the container's main process until it exits or ctx ends.
func (c *Client) Attach(ctx context.Context, opts AttachOptions) error { return errTODO }

// Resize sets the container's pty window size.
func (c *Client) Resize(ctx context.Context, width, height uint16) error { return errTODO }

// Exec runs a process in the container and returns its exit code (or 0 at once when detached).
func (c *Client) Exec(ctx context.Context, opts ExecOptions) (int, error) { return 0, errTODO }

// Close releases the connection; the supervisor and container keep running.
func (c *Client) Close() error { return nil }

// Main is the entry point of "kedge __shim"; it returns the process's exit code.
func Main(args []string) int { return 1 }
