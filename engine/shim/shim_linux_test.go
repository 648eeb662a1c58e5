//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"kedge/engine/logs"
	"kedge/engine/runtime"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLogsStreamsAndExit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"}, nil)
		cl := c.mustStart()
		if cl.Pid() <= 0 {
			t.Fatalf("pid %d", cl.Pid())
		}
		ctx := testCtx(t)
		// Several clients wait at once; all get the same exit.
		var wg sync.WaitGroup
		exits := make([]*Exit, 3)
		for i := range exits {
			wg.Go(func() {
				e, err := cl.Wait(ctx)
				if err != nil {
					t.Errorf("wait: %v", err)
				}
				exits[i] = e
			})
		}
		wg.Wait()
		for _, e := range exits {
			if e == nil || e.Code != 3 || e.Signal != 0 || e.OOMKilled {
				t.Fatalf("exit %+v, want code 3", e)
			}
			if e.StartedAt.IsZero() || e.FinishedAt.Before(e.StartedAt) {
				t.Fatalf("bad times in %+v", e)
			}
		}
		got := map[string]string{}
		for _, e := range c.logEntries() {
			got[e.Stream] += e.Log
		}
		if got[logs.Stdout] != "out1\nout2\n" || got[logs.Stderr] != "err1\n" {
			t.Fatalf("logs %q", got)
		}
		stored, err := ReadExit(c.opts.ExitFile)
		if err != nil || stored.Code != 3 {
			t.Fatalf("exit file %+v %v", stored, err)
		}
		waitFor(t, "supervisor gone", func() bool { return supervisorPids(c.opts.StateDir) == nil })
		// Wait after the supervisor is gone answers from the exit file.
		e, err := cl.Wait(ctx)
		if err != nil || e.Code != 3 {
			t.Fatalf("late wait: %+v %v", e, err)
		}
		if _, err := Dial(ctx, c.opts.StateDir); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("dial after exit: %v", err)
		}
		if b.real {
			assertNoCgroup(t, c.spec.Linux.CgroupsPath)
		}
	})
}

func TestOOMKilled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("real containers need root")
	}
	c := newContainer(t, realBackend, []string{"/bin/sh", "-c", "tail /dev/zero"}, nil)
	limit := int64(16 << 20)
	c.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	rewriteSpec(t, c)
	cl := c.mustStart()
	e, err := cl.Wait(testCtx(t))
	if err != nil || !e.OOMKilled || e.Code != 137 {
		t.Fatalf("exit %+v %v, want 137 and OOMKilled", e, err)
	}
}

func TestSignalExit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "echo up; exec sleep 100"}, func(o *Options) {
			// A state dir too long for a plain socket address.
			o.StateDir = filepath.Join(o.StateDir, strings.Repeat("long-state-dir/", 8))
		})
		cl := c.mustStart()
		ctx := testCtx(t)
		waitFor(t, "output", func() bool { return len(c.logEntries()) > 0 })
		if err := cl.Signal(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e, err := cl.Wait(ctx)
		if err != nil || e.Code != 137 || e.Signal != int(syscall.SIGKILL) {
			t.Fatalf("exit %+v %v, want 137 by SIGKILL", e, err)
		}
		if err := cl.Signal(ctx, syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("signal after exit: %v", err)
		}
	})
}

func TestStartFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(c *container) []string
		want error
		code int
	}{
		{"not-found", func(c *container) []string { return []string{"/does/not/exist"} }, runtime.ErrExecNotFound, 127},
		{"permission", func(c *container) []string { return []string{c.containerPath("noexec")} }, runtime.ErrExecPermission, 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				c := newContainer(t, b, []string{"placeholder"}, nil)
				c.spec.Process.Args = tc.args(c)
				if !b.real {
					os.WriteFile(c.containerPath("noexec"), []byte("#!/bin/sh\n"), 0o644)
				}
				rewriteSpec(t, c)
				_, err := c.start()
				if !errors.Is(err, tc.want) {
					t.Fatalf("start: %v, want %v", err, tc.want)
				}
				if pids := supervisorPids(c.opts.StateDir); pids != nil {
					t.Fatalf("supervisor still running: %v", pids)
				}
				if _, err := os.Stat(filepath.Join(c.opts.StateDir, sockName)); err == nil {
					t.Fatal("socket left behind")
				}
				e, rerr := ReadExit(c.opts.ExitFile)
				if rerr != nil || e.Code != tc.code || e.Error == "" {
					t.Fatalf("exit file %+v %v, want code %d", e, rerr, tc.code)
				}
				if b.real {
					assertNoCgroup(t, c.spec.Linux.CgroupsPath)
				}
			})
		})
	}
}

// rewriteSpec stores c.spec again after a test changed it.
func rewriteSpec(t *testing.T, c *container) {
	t.Helper()
	data, _ := json.Marshal(c.spec)
	if err := os.WriteFile(filepath.Join(c.opts.BundleDir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertNoCgroup checks that no hierarchy holds the container's cgroup.
func assertNoCgroup(t *testing.T, path string) {
	t.Helper()
	matches, _ := filepath.Glob("/sys/fs/cgroup/*" + path)
	direct, _ := filepath.Glob("/sys/fs/cgroup" + path)
	if len(matches)+len(direct) > 0 {
		t.Fatalf("cgroup left behind: %v %v", matches, direct)
	}
}

func TestAttachStdin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/cat"}, func(o *Options) { o.OpenStdin = true })
		cl := c.mustStart()
		ctx := testCtx(t)

		// First client: its stdin closing does not close the container's.
		pr, pw := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		actx, stop := context.WithCancel(ctx)
		go func() { done <- cl.Attach(actx, AttachOptions{Stdin: pr, Stdout: &out}) }()
		pw.Write([]byte("hello\n"))
		readUntil(t, &out, "hello\n")
		pw.Close()
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("detached attach: %v", err)
		}

		// Second client, with a watcher attached at the same time.
		var watch syncBuffer
		watchDone := make(chan error, 1)
		go func() { watchDone <- cl.Attach(ctx, AttachOptions{Stdout: &watch}) }()
		pr2, pw2 := io.Pipe()
		var out2 syncBuffer
		go func() { done <- cl.Attach(ctx, AttachOptions{Stdin: pr2, Stdout: &out2}) }()
		pw2.Write([]byte("again\n"))
		readUntil(t, &out2, "again\n")
		// The watcher sees output from the moment it is attached.
		waitFor(t, "watcher output", func() bool {
			pw2.Write([]byte("ping\n"))
			return strings.Contains(watch.String(), "ping\n")
		})
		cl.Signal(ctx, syscall.SIGKILL)
		for _, ch := range []chan error{done, watchDone} {
			if err := <-ch; err != nil {
				t.Fatalf("attach after exit: %v", err)
			}
		}
		pw2.Close()
		if strings.Contains(out2.String(), "hello") {
			t.Fatalf("second attach replayed old output: %q", out2.String())
		}
	})
}

func TestAttachStdinOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "cat; echo done >&2"}, func(o *Options) {
			o.OpenStdin, o.StdinOnce = true, true
		})
		cl := c.mustStart()
		ctx := testCtx(t)
		var out, errOut syncBuffer
		if err := cl.Attach(ctx, AttachOptions{Stdin: strings.NewReader("one\ntwo\n"), Stdout: &out, Stderr: &errOut}); err != nil {
			t.Fatal(err)
		}
		if out.String() != "one\ntwo\n" || errOut.String() != "done\n" {
			t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
		}
		if e, err := cl.Wait(ctx); err != nil || e.Code != 0 {
			t.Fatalf("exit %+v %v", e, err)
		}
	})
}

func TestTtyResize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "read x; stty size; read y"}, func(o *Options) {
			o.Tty, o.OpenStdin = true, true
		})
		cl := c.mustStart()
		ctx := testCtx(t)
		if err := cl.Resize(ctx, 123, 45); err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		defer pw.Close()
		var out syncBuffer
		done := make(chan error, 1)
		go func() { done <- cl.Attach(ctx, AttachOptions{Stdin: pr, Stdout: &out}) }()
		pw.Write([]byte("go\n"))
		readUntil(t, &out, "45 123")
		pw.Write([]byte("end\n"))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if e, err := cl.Wait(ctx); err != nil || e.Code != 0 {
			t.Fatalf("exit %+v %v", e, err)
		}
		if !strings.Contains(logText(c), "45 123") {
			t.Fatalf("tty output not logged: %q", logText(c))
		}
	})
}

func logText(c *container) string {
	var sb strings.Builder
	for _, e := range c.logEntries() {
		sb.WriteString(e.Log)
	}
	return sb.String()
}

func TestResizeWithoutTtyAndDoubleStart(t *testing.T) {
	c := newContainer(t, fakeBackend, []string{"/bin/sleep", "100"}, nil)
	cl := c.mustStart()
	if err := cl.Resize(testCtx(t), 80, 25); !errors.Is(err, ErrNoTty) {
		t.Fatalf("resize: %v, want ErrNoTty", err)
	}
	if _, err := c.start(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second start: %v, want ErrAlreadyRunning", err)
	}
	if cl2, err := Dial(testCtx(t), c.opts.StateDir); err != nil || cl2.Pid() != cl.Pid() {
		t.Fatalf("the first supervisor lost its socket: %v", err)
	}
}

func TestExec(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sleep", "100"}, nil)
		cl := c.mustStart()
		ctx := testCtx(t)
		proc := func(args ...string) *specs.Process {
			p := *c.spec.Process
			p.Args, p.Terminal = args, false
			return &p
		}

		var out, errOut syncBuffer
		code, err := cl.Exec(ctx, ExecOptions{
			Process: proc("/bin/sh", "-c", "echo hi; echo oops >&2; exit 5"), Stdout: &out, Stderr: &errOut,
		})
		if err != nil || code != 5 || out.String() != "hi\n" || errOut.String() != "oops\n" {
			t.Fatalf("exec: code %d err %v stdout %q stderr %q", code, err, out.String(), errOut.String())
		}

		var cat syncBuffer
		code, err = cl.Exec(ctx, ExecOptions{Process: proc("/bin/cat"), Stdin: strings.NewReader("piped"), Stdout: &cat})
		if err != nil || code != 0 || cat.String() != "piped" {
			t.Fatalf("exec cat: %d %v %q", code, err, cat.String())
		}

		var tty syncBuffer
		p := proc("/bin/sh", "-c", "stty size; test -t 0")
		p.Terminal = true
		code, err = cl.Exec(ctx, ExecOptions{Process: p, Tty: true, Size: WindowSize{Width: 77, Height: 33}, Stdout: &tty})
		if err != nil || code != 0 || !strings.Contains(tty.String(), "33 77") {
			t.Fatalf("exec tty: %d %v %q", code, err, tty.String())
		}

		// Window size changes reach an exec's pty.
		resize := make(chan WindowSize, 1)
		pr, pw := io.Pipe()
		defer pw.Close()
		p = proc("/bin/sh", "-c", `while read x; do [ "$(stty size)" = "20 50" ] && exit 7; done`)
		p.Terminal = true
		execDone := make(chan error, 1)
		var resized syncBuffer
		go func() {
			code, err := cl.Exec(ctx, ExecOptions{Process: p, Tty: true, Stdin: pr, Stdout: &resized, Resize: resize})
			if err == nil && code != 7 {
				err = fmt.Errorf("exit code %d, want 7", code)
			}
			execDone <- err
		}()
		resize <- WindowSize{Width: 50, Height: 20}
		close(resize)
	poke:
		for {
			select {
			case err := <-execDone:
				if err != nil {
					t.Fatalf("exec tty resize: %v (output %q)", err, resized.String())
				}
				break poke
			case <-time.After(20 * time.Millisecond):
				pw.Write([]byte("\n")) // until the shell sees the new size
			}
		}

		_, err = cl.Exec(ctx, ExecOptions{Process: proc("/no/such/binary")})
		if !errors.Is(err, runtime.ErrExecNotFound) {
			t.Fatalf("exec missing binary: %v", err)
		}

		code, err = cl.Exec(ctx, ExecOptions{Process: proc("/bin/sh", "-c", "echo x > $MARKER"), Detach: true, Stdout: &out})
		if err != nil || code != 0 {
			t.Fatalf("detached exec: %d %v", code, err)
		}
		waitFor(t, "detached exec's marker", func() bool {
			_, err := os.Stat(filepath.Join(c.rootfs, "marker"))
			return err == nil
		})
		// Exec output never reaches the container's log.
		if txt := logText(c); txt != "" {
			t.Fatalf("container log has exec output: %q", txt)
		}
		cl.Signal(ctx, syscall.SIGKILL)
		cl.Wait(ctx)
		if _, err := cl.Exec(ctx, ExecOptions{Process: proc("/bin/true")}); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("exec after exit: %v", err)
		}
	})
}

func TestAgentKilled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"}, nil)
		agent, pid := startAgent(t, c)
		agent.Process.Signal(syscall.SIGKILL)
		agent.Wait()

		// Hang-ups and broken pipes (a dying terminal or agent) are ignored.
		sup := supervisorPids(c.opts.StateDir)
		if len(sup) != 1 {
			t.Fatalf("supervisor pids %v", sup)
		}
		syscall.Kill(sup[0], syscall.SIGHUP)
		syscall.Kill(sup[0], syscall.SIGPIPE)

		ctx := testCtx(t)
		cl, err := Dial(ctx, c.opts.StateDir)
		if err != nil {
			t.Fatalf("dial after agent death: %v", err)
		}
		t.Cleanup(func() { c.stop(cl) })
		if cl.Pid() != pid {
			t.Fatalf("dialled pid %d, want %d", cl.Pid(), pid)
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			t.Fatalf("container died with the agent: %v", err)
		}
		// The log keeps growing: the supervisor still copies output.
		n := len(c.logEntries())
		waitFor(t, "more log lines", func() bool { return len(c.logEntries()) > n+2 })

		// Follow the log until the container exits.
		var followed atomic.Int64
		followDone := make(chan error, 1)
		done := make(chan struct{})
		go func() {
			followDone <- logs.Read(ctx, c.opts.LogPath, logs.ReadOptions{Tail: 0, Follow: true, Done: done}, func(logs.Entry) error {
				followed.Add(1)
				return nil
			})
		}()
		waitFor(t, "followed lines", func() bool { return followed.Load() > 2 })
		var out syncBuffer
		if code, err := cl.Exec(ctx, ExecOptions{Process: &specs.Process{Args: []string{"/bin/echo", "still here"}, Env: c.spec.Process.Env, Cwd: "/", Capabilities: c.spec.Process.Capabilities}, Stdout: &out}); err != nil || code != 0 {
			t.Fatalf("exec after re-adoption: %d %v", code, err)
		}
		if err := cl.Signal(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e, err := cl.Wait(ctx)
		if err != nil || e.Code != 137 {
			t.Fatalf("exit %+v %v", e, err)
		}
		close(done)
		if err := <-followDone; err != nil {
			t.Fatalf("follow: %v", err)
		}
	})
}

// TestSupervisorMemory measures what a running container's supervisor costs:
// VmRSS, its anonymous part (the supervisor's own), and PSS with four
// containers running, where the binary's file-backed pages are shared.
func TestSupervisorMemory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const containers = 4
		var pids []int
		for i := range containers {
			c := newContainer(t, b, []string{"/bin/sh", "-c", "while true; do echo some output line; sleep 0.01; done"}, nil)
			cl := c.mustStart()
			if i == 0 {
				// Some traffic: log lines, an exec, a waiter.
				ctx := testCtx(t)
				cl.Exec(ctx, ExecOptions{Process: &specs.Process{Args: []string{"/bin/true"}, Env: c.spec.Process.Env, Cwd: "/", Capabilities: c.spec.Process.Capabilities}})
				go cl.Wait(ctx)
				waitFor(t, "log lines", func() bool { return len(c.logEntries()) > 20 })
			}
			p := supervisorPids(c.opts.StateDir)
			if len(p) != 1 {
				t.Fatalf("supervisor pids %v", p)
			}
			pids = append(pids, p...)
		}
		// File-backed pages are the kedge binary, shared by every supervisor
		// and the agent; the anonymous ones are what each container costs.
		pid := pids[0]
		rss, anon, pss := statusKB(t, pid, "VmRSS"), statusKB(t, pid, "RssAnon"), rollupKB(t, pid, "Pss")
		t.Logf("supervisor VmRSS %d kB: anonymous %d kB, file-backed (the binary) %d kB; PSS %d kB with %d containers (%s backend)",
			rss, anon, statusKB(t, pid, "RssFile"), pss, containers, b.name)
		if raceEnabled {
			return // the race detector's shadow memory
		}
		if anon > 8*1024 || pss > 8*1024 || rss > 16*1024 {
			t.Errorf("supervisor memory over the 8 MB target: VmRSS %d kB, anonymous %d kB, PSS %d kB", rss, anon, pss)
		}
	})
}

// rollupKB reads a kB field of /proc/PID/smaps_rollup.
func rollupKB(t *testing.T, pid int, field string) int {
	return kbField(t, filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"), field)
}

// statusKB reads a kB field of /proc/PID/status.
func statusKB(t *testing.T, pid int, field string) int {
	return kbField(t, filepath.Join("/proc", strconv.Itoa(pid), "status"), field)
}

// kbField reads "Field: N kB" from a /proc file.
func kbField(t *testing.T, path, field string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int
			if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
				return kb
			}
		}
	}
	t.Fatalf("no %s in %s", field, path)
	return 0
}

func TestHoldOutputForFirstAttach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := newContainer(t, b, []string{"/bin/sh", "-c", "echo early; echo warn >&2"}, func(o *Options) { o.HoldOutput = true })
		cl := c.mustStart()
		ctx := testCtx(t)
		// The container has exited before anyone attached.
		if e, err := cl.Wait(ctx); err != nil || e.Code != 0 {
			t.Fatalf("exit %+v %v", e, err)
		}
		var out, errOut syncBuffer
		if err := cl.Attach(ctx, AttachOptions{Stdout: &out, Stderr: &errOut}); err != nil {
			t.Fatal(err)
		}
		if out.String() != "early\n" || errOut.String() != "warn\n" {
			t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
		}
	})
}

func TestRestartWhileOldSupervisorFinishes(t *testing.T) {
	// The host backend's supervisor lingers testLinger for its held output.
	c := newContainer(t, fakeBackend, []string{"/bin/sh", "-c", "echo run"}, func(o *Options) { o.HoldOutput = true })
	ctx := testCtx(t)
	first := c.mustStart()
	if e, err := first.Wait(ctx); err != nil || e.Code != 0 {
		t.Fatalf("first run: %+v %v", e, err)
	}
	oldPids := supervisorPids(c.opts.StateDir)
	if len(oldPids) != 1 {
		t.Fatalf("the first supervisor should linger: %v", oldPids)
	}
	// Restart (a restart policy) while the first supervisor still lingers.
	c.spec.Process.Args = []string{"/bin/sleep", "100"}
	rewriteSpec(t, c)
	os.Remove(c.opts.ExitFile)
	second, err := c.start()
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitFor(t, "the first supervisor to exit", func() bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(oldPids[0])))
		return err != nil
	})
	// The second supervisor still has its socket.
	cl, err := Dial(ctx, c.opts.StateDir)
	if err != nil || cl.Pid() != second.Pid() {
		t.Fatalf("dial the restarted container: %v", err)
	}
}

// BenchmarkLogThroughput measures container output through the supervisor
// into the json-file log: 16 MiB of short lines per run.
func BenchmarkLogThroughput(b *testing.B) {
	const size = 16 << 20
	for _, be := range []backend{fakeBackend, realBackend} {
		b.Run(be.name, func(b *testing.B) {
			if be.real && os.Geteuid() != 0 {
				b.Skip("real containers need root")
			}
			b.SetBytes(size)
			for b.Loop() {
				c := newContainer(b, be, []string{"/bin/sh", "-c", "yes 'a log line of a typical length, say sixty bytes or so' | head -c " + strconv.Itoa(size)}, func(o *Options) {
					o.LogMaxSize, o.LogMaxFiles = 8<<20, 2
				})
				cl := c.mustStart()
				e, err := cl.Wait(context.Background())
				if err != nil || e.Code != 0 {
					b.Fatalf("exit %+v %v", e, err)
				}
			}
		})
	}
}
