//go:build linux

package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"kedge/api"
)

// cniLab is a conflist for the standard bridge + host-local plugins
// (Debian's containernetworking-plugins) on a private bridge, subnet and
// IPAM dir, removed at cleanup.
type cniLab struct {
	name, bridge, subnet, ipamDir string
}

func newCNILab(t *testing.T, name, subnet string) *cniLab {
	t.Helper()
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatalf("the standard CNI plugins are missing (apt-get install containernetworking-plugins): %v", err)
	}
	b := make([]byte, 3)
	rand.Read(b)
	l := &cniLab{name: name, bridge: "kcb" + hex.EncodeToString(b), subnet: subnet, ipamDir: t.TempDir()}
	t.Cleanup(func() {
		if link, err := netlink.LinkByName(l.bridge); err == nil {
			_ = netlink.LinkDel(link) // the bridge plugin's device outlives the network
		}
	})
	return l
}

// conf is the conflist; dns adds the bridge plugin's "dns" (returned in its result).
func (l *cniLab) conf(extra string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[{"type":"bridge","bridge":%q,"isGateway":true,
		"dns":{"nameservers":["192.0.2.53"],"search":["cni.example"]},
		"ipam":{"type":"host-local","subnet":%q,"dataDir":%q}}%s]}`, l.name, l.bridge, l.subnet, l.ipamDir, extra))
}

func (l *cniLab) reservations() []string {
	entries, _ := os.ReadDir(filepath.Join(l.ipamDir, l.name))
	var out []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// bridgePorts lists the veths on the lab's bridge.
func (l *cniLab) bridgePorts(t *testing.T) []string {
	t.Helper()
	br, err := netlink.LinkByName(l.bridge)
	if err != nil {
		return nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range links {
		if x.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, x.Attrs().Name)
		}
	}
	return out
}

// A network from a user's conflist runs the standard bridge and host-local
// plugins: two containers get addresses from it and reach each other, their
// resolv.conf carries the plugin's DNS, and rm releases their addresses
// and veths.
func TestCNINetworkStandardPlugins(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	l := newCNILab(t, "stdnet", "10.216.7.0/24")
	t.Cleanup(func() {
		for _, c := range te.List(true) {
			te.Remove(ctx, c.ID, true, true)
		}
		if err := te.RemoveNetwork(ctx, l.name); err != nil && !errors.Is(err, api.ErrNotFound) {
			t.Errorf("remove network: %v", err)
		}
	})
	n, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni", CNIConfig: l.conf("")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if n.Driver != "cni" || n.Subnet != l.subnet || strings.Join(n.Plugins, ",") != "bridge" || len(n.CNIConfig) == 0 {
		t.Fatalf("created %+v", n)
	}
	web := te.run(api.ContainerConfig{Name: "cweb", NetworkMode: l.name,
		Cmd: sh("mkdir -p /www && echo via-cni > /www/index.html && exec httpd -f -p 80 -h /www")})
	ws := mustInspect(t, te, web).NetworkSettings
	if ws == nil || !strings.HasPrefix(ws.IPAddress, "10.216.7.") || ws.Gateway != "10.216.7.1" || ws.PrefixLen != 24 {
		t.Fatalf("network settings %+v, want an address in %s", ws, l.subnet)
	}
	var out string
	waitFor(t, "a neighbour to fetch from the web container", 10*time.Second, func() bool {
		code, o, _ := te.runToExit(api.ContainerConfig{NetworkMode: l.name,
			Cmd: sh("timeout 3 wget -qO- http://" + ws.IPAddress + "/index.html; exit $?")})
		out = o
		return code == 0
	})
	if out != "via-cni\n" {
		t.Fatalf("fetched %q", out)
	}
	code, etc, _ := te.runToExit(api.ContainerConfig{NetworkMode: l.name, Hostname: "probe", Cmd: sh("cat /etc/resolv.conf /etc/hosts")})
	if code != 0 || !strings.Contains(etc, "nameserver 192.0.2.53") || !strings.Contains(etc, "search cni.example") || !hostsHasLine(etc, "probe") {
		t.Fatalf("resolv.conf and hosts (exit %d):\n%s", code, etc)
	}
	if got := mustInspect(t, te, web).NetworkSettings.DNSServers; len(got) != 1 || got[0] != "192.0.2.53" {
		t.Fatalf("DNS servers in the settings: %v", got)
	}
	if err := te.RemoveNetwork(ctx, l.name); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("removing a network in use: %v, want ErrConflict", err)
	}
	for _, c := range te.List(true) {
		if err := te.Remove(ctx, c.ID, true, true); err != nil {
			t.Fatal(err)
		}
	}
	// A pod on the network gets its address from the plugins too, and keeps
	// the network from being removed.
	pod, err := te.CreatePod(ctx, &api.PodConfig{Name: "cnipod", NetworkMode: l.name})
	if err != nil {
		t.Fatalf("pod on the network: %v", err)
	}
	if ps := pod.NetworkSettings; ps == nil || !strings.HasPrefix(ps.IPAddress, "10.216.7.") {
		t.Fatalf("pod settings %+v", ps)
	}
	code, etc, _ = te.runToExit(api.ContainerConfig{NetworkMode: "pod:cnipod", IpcMode: "pod:cnipod", Cmd: sh("cat /etc/resolv.conf")})
	if code != 0 || !strings.Contains(etc, "nameserver 192.0.2.53") {
		t.Fatalf("a pod container's resolv.conf (exit %d):\n%s", code, etc)
	}
	if err := te.RemoveNetwork(ctx, l.name); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "pod cnipod") {
		t.Fatalf("removing a network a pod uses: %v, want ErrConflict", err)
	}
	for _, c := range te.List(true) {
		if err := te.Remove(ctx, c.ID, true, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := te.RemovePod(ctx, pod.ID, true); err != nil {
		t.Fatal(err)
	}
	if r, p := l.reservations(), l.bridgePorts(t); len(r) != 0 || len(p) != 0 {
		t.Fatalf("after rm: reservations %v, veths %v", r, p)
	}
	if _, err := os.Stat(te.netnsPath(web)); !os.IsNotExist(err) {
		t.Fatalf("network namespace left after rm: %v", err)
	}
	if recs, _ := os.ReadDir(filepath.Join(te.dataDir, "net", ".attachments", l.name)); len(recs) != 0 {
		t.Fatalf("attachment records left: %d", len(recs))
	}
	if err := te.RemoveNetwork(ctx, l.name); err != nil {
		t.Fatal(err)
	}
	if _, err := te.InspectNetwork(l.name); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("inspect after rm: %v", err)
	}
}

// hostsHasLine reports whether hosts has a line "<IPv4>\t<name>".
func hostsHasLine(hosts, name string) bool {
	for _, line := range strings.Split(hosts, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == name && strings.HasPrefix(f[0], "10.216.7.") {
			return true
		}
	}
	return false
}

// A malformed conflist, one whose plugin is not installed, one named
// otherwise, and published ports without a portmap plugin are refused with
// clear errors, leaving nothing behind.
func TestCNINetworkRefusals(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	l := newCNILab(t, "refusing", "10.216.8.0/24")
	t.Cleanup(func() {
		for _, c := range te.List(true) {
			te.Remove(ctx, c.ID, true, true)
		}
		_ = te.RemoveNetwork(ctx, l.name)
	})
	for what, c := range map[string]struct {
		conf []byte
		want string
	}{
		"malformed":      {[]byte(`{"cniVersion":"1.0.0","name":"refusing","plugins":[{"type":"bridge"`), "not a JSON object"},
		"no plugins":     {[]byte(`{"cniVersion":"1.0.0","name":"refusing"}`), `no "plugins"`},
		"missing plugin": {l.conf(`,{"type":"kedge-no-such-plugin"}`), "plugin binary kedge-no-such-plugin not found in /opt/cni/bin, /usr/lib/cni"},
		"other name":     {[]byte(strings.Replace(string(l.conf("")), `"name":"refusing"`, `"name":"other"`, 1)), `named "other"`},
	} {
		_, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni", CNIConfig: c.conf})
		if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", what, err, c.want)
		}
	}
	if _, err := te.InspectNetwork(l.name); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused network exists: %v", err)
	}
	if _, err := netlink.LinkByName(l.bridge); err == nil {
		t.Fatalf("a refused network made bridge %s", l.bridge)
	}
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni", CNIConfig: l.conf(""), Subnet: "10.1.0.0/24"}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("--subnet with driver cni: %v", err)
	}
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni"}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("driver cni without a conflist: %v", err)
	}
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni", CNIConfig: l.conf("")}); err != nil {
		t.Fatal(err)
	}
	_, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, NetworkMode: l.name, Cmd: []string{"true"},
		Ports: []api.PortBinding{{HostPort: 18091, ContainerPort: 80}}})
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "portmap") {
		t.Fatalf("published ports without portmap: %v", err)
	}
	if len(l.reservations()) != 0 {
		t.Fatalf("a refused container reserved %v", l.reservations())
	}
}

// A cni network and its running container's address survive an agent
// restart; the address of a container that ended while no agent ran is
// released when the agent comes back.
func TestCNINetworkSurvivesAgentRestart(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	l := newCNILab(t, "durable", "10.216.9.0/24")
	t.Cleanup(func() {
		if te.Engine == nil {
			return
		}
		for _, c := range te.List(true) {
			te.Remove(ctx, c.ID, true, true)
		}
		if err := te.RemoveNetwork(ctx, l.name); err != nil && !errors.Is(err, api.ErrNotFound) {
			t.Errorf("remove network: %v", err)
		}
	})
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni", CNIConfig: l.conf("")}); err != nil {
		t.Fatal(err)
	}
	keep := te.run(api.ContainerConfig{NetworkMode: l.name, Cmd: sh("mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www")})
	gone := te.run(api.ContainerConfig{NetworkMode: l.name, Cmd: []string{"sleep", "60"}})
	keepIP := mustInspect(t, te, keep).NetworkSettings.IPAddress
	goneIP := mustInspect(t, te, gone).NetworkSettings.IPAddress
	gonePid := mustInspect(t, te, gone).State.Pid
	if r := l.reservations(); len(r) != 2 {
		t.Fatalf("reservations %v, want 2", r)
	}

	te.Close()
	te.Engine = nil
	syscall.Kill(gonePid, syscall.SIGKILL) // ends while no agent runs
	waitFor(t, "the exit file", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(te.dataDir, "containers", gone, "exit.json"))
		return err == nil
	})
	te.open()
	n, err := te.InspectNetwork(l.name)
	if err != nil || n.Driver != "cni" || len(n.Containers) != 2 {
		t.Fatalf("the network after the restart: %+v, %v", n, err)
	}
	if r := l.reservations(); len(r) != 1 || r[0] != keepIP {
		t.Fatalf("reservations after the restart %v, want only %s (not %s)", r, keepIP, goneIP)
	}
	waitFor(t, "the kept container to answer", 10*time.Second, func() bool {
		code, out, _ := te.runToExit(api.ContainerConfig{NetworkMode: l.name, Cmd: sh("timeout 3 wget -qO- http://" + keepIP + "/index.html; exit $?")})
		return code == 0 && out == "kept\n"
	})
	// The ended container starts again on the network with a new address.
	if err := te.Start(ctx, gone); err != nil {
		t.Fatalf("restart the ended container: %v", err)
	}
	if ip := mustInspect(t, te, gone).NetworkSettings.IPAddress; !strings.HasPrefix(ip, "10.216.9.") {
		t.Fatalf("address after the start: %q", ip)
	}
}

// With the standard portmap plugin in the conflist (the portMappings
// capability), -p publishes through it: the port answers on the host, and
// rm takes the plugin's rules away.
func TestCNINetworkPortmap(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("the standard portmap plugin needs iptables")
	}
	l := newCNILab(t, "mapped", "10.216.10.0/24")
	t.Cleanup(removePortmapChains)
	t.Cleanup(func() {
		for _, c := range te.List(true) {
			te.Remove(ctx, c.ID, true, true)
		}
		if err := te.RemoveNetwork(ctx, l.name); err != nil && !errors.Is(err, api.ErrNotFound) {
			t.Errorf("remove network: %v", err)
		}
	})
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: l.name, Driver: "cni",
		CNIConfig: l.conf(`,{"type":"portmap","capabilities":{"portMappings":true}}`)}); err != nil {
		t.Fatal(err)
	}
	web := te.run(api.ContainerConfig{NetworkMode: l.name, Ports: []api.PortBinding{{HostPort: 18095, ContainerPort: 80}},
		Cmd: sh("mkdir -p /www && echo mapped > /www/index.html && exec httpd -f -p 80 -h /www")})
	if p := mustInspect(t, te, web).NetworkSettings.Ports; len(p) != 1 || p[0].HostPort != 18095 {
		t.Fatalf("ports %+v", p)
	}
	get := func() string {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://10.216.10.1:18095/index.html")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, "the published port to answer", 10*time.Second, func() bool { return get() == "mapped\n" })
	rules := func() string {
		out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
		return grepLines(string(out), web)
	}
	if rules() == "" {
		t.Fatal("no portmap rule names the container")
	}
	if err := te.Remove(ctx, web, true, true); err != nil {
		t.Fatal(err)
	}
	if r := rules(); r != "" {
		t.Fatalf("portmap rules left after rm:\n%s", r)
	}
	if get() != "" {
		t.Fatal("the port still answers after rm")
	}
}

// removePortmapChains deletes the chains the portmap plugin shares between
// its users, once no container's rules are left in them.
func removePortmapChains() {
	out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if strings.Contains(string(out), ":CNI-DN-") {
		return
	}
	ipt := func(args ...string) { _ = exec.Command("iptables", append([]string{"-t", "nat"}, args...)...).Run() }
	ipt("-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
	ipt("-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
	ipt("-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ")
	for _, c := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"} {
		ipt("-F", c)
		ipt("-X", c)
	}
	// iptables-nft's nat tables, made for portmap, go too when they hold no rule.
	for _, fam := range []string{"ip", "ip6"} {
		save := map[string]string{"ip": "iptables-save", "ip6": "ip6tables-save"}[fam]
		out, err := exec.Command(save, "-t", "nat").CombinedOutput()
		if err == nil && !strings.Contains(string(out), "\n-A ") {
			_ = exec.Command("nft", "delete", "table", fam, "nat").Run()
		}
	}
}
