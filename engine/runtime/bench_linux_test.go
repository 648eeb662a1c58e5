//go:build linux

package runtime

import (
	"context"
	"testing"
)

// BenchmarkStartTrue measures Start through exec of `true` plus Wait, with
// the default spec (six namespaces, default mounts, cgroup, seccomp).
func BenchmarkStartTrue(b *testing.B) {
	needRoot(b)
	root := busyboxRootfs(b)
	spec := testSpec(b, root, "/bin/true")
	cfg := newConfig(b, spec)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		p, err := Start(ctx, cfg, Stdio{})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := p.Wait(); err != nil || st.Code != 0 {
			b.Fatalf("%+v %v", st, err)
		}
	}
}

// BenchmarkExecTrue measures Exec of `true` into a running container plus Wait.
func BenchmarkExecTrue(b *testing.B) {
	needRoot(b)
	spec := testSpec(b, busyboxRootfs(b), "/bin/sleep", "60")
	cfg := newConfig(b, spec)
	ctx := context.Background()
	init, err := Start(ctx, cfg, Stdio{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = killPid(init.Pid)
		_, _ = init.Wait()
	})
	proc := execProc(cfg, "/bin/true")
	b.ResetTimer()
	for b.Loop() {
		p, err := Exec(ctx, cfg, init.Pid, proc, Stdio{})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := p.Wait(); err != nil || st.Code != 0 {
			b.Fatalf("%+v %v", st, err)
		}
	}
}
