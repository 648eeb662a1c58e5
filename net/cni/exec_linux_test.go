//go:build linux

package cni

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// TestMain lets the test binary serve as the plugin executable, as the
// kedge binary does through the re-exec dispatcher.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == PluginName {
		os.Exit(PluginMain(os.Args))
	}
	os.Exit(m.Run())
}

// execNetwork is network i driven through a real fork/exec of the plugin.
func (l *lab) execNetwork(t *testing.T, i int) *Network { return l.execNetworkTB(t, i) }

// execNetworkTB is execNetwork for tests and benchmarks.
func (l *lab) execNetworkTB(t testing.TB, i int) *Network {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, PluginName)); err != nil {
		t.Fatal(err)
	}
	cfg := l.config(i)
	cfg.PluginDirs = []string{dir}
	cfg.Exec = &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeBridge(cfg.Bridge) })
	return n
}

// TestExecutablePlugin drives the same network through the exec'd plugin
// and in-process, as an agent restarted in the other mode would: both see
// one IPAM store and one table, no address is handed out twice.
func TestExecutablePlugin(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t)
	ex := l.execNetwork(t, 1)
	in := l.network(1)
	a, b := l.netns(), l.netns()
	port := freePort(t)
	atA, err := ex.Attach(ctx, "a", a.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}})
	if err != nil {
		t.Fatalf("exec attach: %v", err)
	}
	t.Cleanup(func() { _ = ex.Detach(ctx, "a", a.Path()) })
	if err := ex.Check(ctx, "a", a.Path()); err != nil {
		t.Fatalf("exec check: %v", err)
	}
	serveTCP(t, a, ":80")
	if _, err := dialTCP(nil, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dialTimeout); err != nil {
		t.Fatalf("published through exec'd plugin: %v", err)
	}
	// An error crosses the process boundary as a CNI error with our message.
	_, err = ex.Attach(ctx, "b", b.Path(), []PortMapping{{HostPort: port, ContainerPort: 80}})
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || !strings.Contains(err.Error(), ErrPortInUse.Error()) {
		t.Fatalf("exec attach on a used port: %v, want a CNI error saying %q", err, ErrPortInUse)
	}
	atB, err := in.Attach(ctx, "b", b.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if atB.IP.IP.Equal(atA.IP.IP) {
		t.Fatalf("address %s handed out twice", atA.IP.IP)
	}
	// GC through the exec'd plugin reclaims b, which only in-process knew of.
	if err := ex.GC(ctx, []string{"a"}); err != nil {
		t.Fatalf("exec gc: %v", err)
	}
	s := l.state(l.config(1))
	if len(s.veths) != 1 || len(s.reservations) != 1 {
		t.Fatalf("after exec gc: %+v", s)
	}
	if err := ex.Detach(ctx, "a", a.Path()); err != nil {
		t.Fatalf("exec detach: %v", err)
	}
	l.noTrace(t, l.config(1), "exec detach")
}
