//go:build linux

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"kedge/api"
	"kedge/internal/testimage"
)

// Containers on the bridge network get an address, reach each other, and
// publish ports that answer on the host's 127.0.0.1; removing them leaves no
// veth, namespace or address behind.
func TestBridgeNetworkAndPublishedPort(t *testing.T) {
	te := newTestEngine(t)
	te.Close()
	te.bridgeSubnet = "10.213.0.0/24"
	te.open()
	t.Cleanup(func() {
		// Containers first (their veths), then the bridge and its rules.
		for _, c := range te.List(true) {
			te.Remove(context.Background(), c.ID, true, true)
		}
		if n, err := te.network(); err == nil {
			if err := n.Remove(context.Background()); err != nil {
				t.Errorf("remove the bridge network: %v", err)
			}
		}
	})
	web := te.run(api.ContainerConfig{
		Name: "web", NetworkMode: "bridge",
		Ports: []api.PortBinding{{HostIP: "127.0.0.1", HostPort: 18089, ContainerPort: 80}},
		Cmd:   sh("mkdir -p /www && echo bridged > /www/index.html && exec httpd -f -p 80 -h /www"),
	})
	ws := mustInspect(t, te, web).NetworkSettings
	if ws == nil || !strings.HasPrefix(ws.IPAddress, "10.213.0.") || ws.Gateway != "10.213.0.1" {
		t.Fatalf("network settings = %+v, want an address in 10.213.0.0/24", ws)
	}
	var body string
	waitFor(t, "the published port to answer on 127.0.0.1", 10*time.Second, func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:18089/index.html")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "bridged\n" {
		t.Fatalf("published port answered %q", body)
	}
	code, out, errOut := te.runToExit(api.ContainerConfig{NetworkMode: "bridge", Cmd: sh("wget -qO- http://" + ws.IPAddress + "/index.html; ip -4 addr show eth0 | grep -c inet")})
	if code != 0 || out != "bridged\n1\n" {
		t.Fatalf("a neighbour on the bridge: exit %d, %q %q", code, out, errOut)
	}
	// A second container cannot take a published host port.
	resp, err := te.Create(context.Background(), &api.ContainerConfig{Image: busybox, NetworkMode: "bridge", Cmd: []string{"true"},
		Ports: []api.PortBinding{{HostIP: "127.0.0.1", HostPort: 18089, ContainerPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := te.Start(context.Background(), resp.ID); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a second use of host port 18089: %v, want ErrConflict", err)
	}
	if err := te.Remove(context.Background(), web, true, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(te.netnsPath(web)); !os.IsNotExist(err) {
		t.Fatalf("network namespace left after rm: %v", err)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:18089/"); err == nil {
		t.Fatal("the published port still answers after rm")
	}
}

// A bridge container keeps its address and published port across an agent
// restart; one that ended while no agent ran has its address, veth and
// rules collected when the agent comes back.
func TestBridgeSurvivesAgentRestartAndIsCollected(t *testing.T) {
	te := newTestEngine(t)
	te.Close()
	te.bridgeSubnet = "10.214.0.0/24"
	te.open()
	t.Cleanup(func() {
		for _, c := range te.List(true) {
			te.Remove(context.Background(), c.ID, true, true)
		}
		if n, err := te.network(); err == nil {
			if err := n.Remove(context.Background()); err != nil {
				t.Errorf("remove the bridge network: %v", err)
			}
		}
	})
	keep := te.run(api.ContainerConfig{NetworkMode: "bridge", Ports: []api.PortBinding{{HostIP: "127.0.0.1", HostPort: 18090, ContainerPort: 80}},
		Cmd: sh("mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www")})
	gone := te.run(api.ContainerConfig{NetworkMode: "bridge", Cmd: []string{"sleep", "60"}})
	goneIP := mustInspect(t, te, gone).NetworkSettings.IPAddress
	gonePid := mustInspect(t, te, gone).State.Pid
	get := func() string {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:18090/index.html")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, "the published port", 10*time.Second, func() bool { return get() == "kept\n" })

	te.Close()
	te.Engine = nil
	syscall.Kill(gonePid, syscall.SIGKILL) // ends while no agent runs
	waitFor(t, "the exit file", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(te.dataDir, "containers", gone, "exit.json"))
		return err == nil
	})
	te.open()
	if got := get(); got != "kept\n" {
		t.Fatalf("published port after the agent restart: %q", got)
	}
	if _, err := os.Stat(te.netnsPath(gone)); !os.IsNotExist(err) {
		t.Fatalf("the ended container's namespace is still there: %v", err)
	}
	// Its address reservation is released (host-local keeps one file per address).
	if _, err := os.Stat(filepath.Join(te.dataDir, "net", "bridge", goneIP)); !os.IsNotExist(err) {
		t.Fatalf("the ended container's address %s is still reserved: %v", goneIP, err)
	}
	if _, err := os.Stat(filepath.Join(te.dataDir, "net", "bridge", mustInspect(t, te, keep).NetworkSettings.IPAddress)); err != nil {
		t.Fatalf("the running container's reservation was collected: %v", err)
	}
}

// Containers on a user network reach each other by name through the
// network's DNS responder; containers on another network cannot reach
// them; a network in use cannot be removed, and removing it leaves no bridge.
func TestUserNetworksResolveNamesAndIsolate(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	var made []string
	t.Cleanup(func() {
		for _, c := range te.List(true) {
			te.Remove(ctx, c.ID, true, true)
		}
		for _, n := range made {
			if err := te.RemoveNetwork(ctx, n); err != nil && !errors.Is(err, api.ErrNotFound) {
				t.Errorf("remove network %s: %v", n, err)
			}
		}
	})
	front, err := te.CreateNetwork(ctx, &api.Network{Name: "front", Subnet: "10.215.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	made = append(made, "front")
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: "back", Subnet: "10.215.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	made = append(made, "back")
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: "clash", Subnet: "10.215.1.128/25"}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("an overlapping subnet: %v, want ErrConflict", err)
	}
	if _, err := te.CreateNetwork(ctx, &api.Network{Name: "front"}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a second network named front: %v, want ErrConflict", err)
	}
	if _, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, NetworkMode: "nowhere", Cmd: []string{"true"}}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("an unknown network: %v, want ErrNotFound", err)
	}
	api1 := te.run(api.ContainerConfig{Name: "api1", NetworkMode: "front", Cmd: sh("mkdir -p /www && echo by-name > /www/index.html && exec httpd -f -p 80 -h /www")})
	ip := mustInspect(t, te, api1).NetworkSettings.IPAddress
	if !strings.HasPrefix(ip, "10.215.1.") || front.Gateway != "10.215.1.1" {
		t.Fatalf("address %s on front (gateway %s)", ip, front.Gateway)
	}
	waitFor(t, "a neighbour to fetch from api1 by name", 10*time.Second, func() bool {
		code, out, _ := te.runToExit(api.ContainerConfig{NetworkMode: "front", Cmd: sh("timeout 3 wget -qO- http://api1/index.html")})
		return code == 0 && out == "by-name\n"
	})
	// Dropped traffic makes wget wait: bound it (busybox wget's -T crashes).
	// busybox timeout execs the command in its own process and kills it
	// from a child: the trailing exit keeps sh as PID 1, so wget is not
	// PID 1, which ignores SIGTERM.
	code, out, _ := te.runToExit(api.ContainerConfig{NetworkMode: "back", Cmd: sh("timeout 3 wget -qO- http://" + ip + "/index.html; exit $?")})
	if code == 0 {
		t.Fatalf("a container on another network reached %s: %q", ip, out)
	}
	if err := te.RemoveNetwork(ctx, "front"); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("removing a network in use: %v, want ErrConflict", err)
	}
	for _, c := range te.List(true) {
		te.Remove(ctx, c.ID, true, true)
	}
	if err := te.RemoveNetwork(ctx, "front"); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(front.Bridge); err == nil {
		t.Fatalf("bridge %s left after the network's removal", front.Bridge)
	}
}

// Without --network a container is on the bridge, as with Docker; -P and a
// missing host port publish on free ports that answer; --dns, --dns-search,
// --dns-option and --add-host shape resolv.conf and /etc/hosts; --network
// none has only the loopback.
func TestDefaultBridgePublishAllAndEtcFiles(t *testing.T) {
	te := newTestEngine(t)
	te.Close()
	te.bridgeSubnet = "10.216.0.0/24"
	te.open()
	ctx := context.Background()
	testimage.BusyboxInto(t, te.images, "busybox:exposed", func(c *ocispec.ImageConfig) {
		c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "9/udp": {}}
	})
	web := te.run(api.ContainerConfig{Image: "busybox:exposed", PublishAllPorts: true,
		Ports: []api.PortBinding{{HostIP: "127.0.0.1", ContainerPort: 8080}},
		Cmd:   sh("mkdir -p /www && echo free-port > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 80 -h /www")})
	c := mustInspect(t, te, web)
	if c.Config.NetworkMode != "bridge" || c.NetworkSettings == nil || !strings.HasPrefix(c.NetworkSettings.IPAddress, "10.216.0.") {
		t.Fatalf("default network: mode %q, settings %+v", c.Config.NetworkMode, c.NetworkSettings)
	}
	got := map[string]int{}
	for _, p := range c.NetworkSettings.Ports {
		got[fmt.Sprintf("%d/%s", p.ContainerPort, firstNonEmpty(p.Protocol, "tcp"))] = p.HostPort
	}
	if len(got) != 3 || got["80/tcp"] == 0 || got["9/udp"] == 0 || got["8080/tcp"] == 0 {
		t.Fatalf("published ports = %+v, want 80/tcp, 9/udp and 8080/tcp on free host ports", c.NetworkSettings.Ports)
	}
	for _, port := range []int{got["80/tcp"], got["8080/tcp"]} {
		url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
		waitFor(t, url+" to answer", 10*time.Second, func() bool {
			resp, err := (&http.Client{Timeout: time.Second}).Get(url)
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b) == "free-port\n"
		})
	}

	code, out, errOut := te.runToExit(api.ContainerConfig{
		DNS: []string{"192.0.2.53"}, DNSSearch: []string{"corp.example"}, DNSOptions: []string{"ndots:2"},
		ExtraHosts: []string{"db:192.0.2.10", "gw:host-gateway"}, Hostname: "h1",
		Cmd: sh("cat /etc/resolv.conf; echo ---; cat /etc/hosts"),
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	resolv, hosts, _ := strings.Cut(out, "---\n")
	for _, want := range []string{"nameserver 192.0.2.53\n", "search corp.example\n", "options ndots:2\n"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	for _, want := range []string{"\th1\n", "192.0.2.10\tdb\n", "10.216.0.1\tgw\n", "127.0.0.1\tlocalhost\n"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	if code, out, _ := te.runToExit(api.ContainerConfig{NetworkMode: "none", Cmd: sh("ls /sys/class/net")}); code != 0 || out != "lo\n" {
		t.Fatalf("--network none: exit %d, links %q, want only lo", code, out)
	}
	for name, cfg := range map[string]api.ContainerConfig{
		"--dns not an address":     {DNS: []string{"dns.example"}},
		"--add-host without an IP": {ExtraHosts: []string{"db"}},
		"--add-host a bad IP":      {ExtraHosts: []string{"db:300.1.1.1"}},
		"ports on none":            {NetworkMode: "none", Ports: []api.PortBinding{{ContainerPort: 80}}},
		"-P on host":               {NetworkMode: "host", PublishAllPorts: true},
		"--dns on host":            {NetworkMode: "host", DNS: []string{"192.0.2.1"}},
	} {
		cfg.Image, cfg.Cmd = busybox, []string{"true"}
		if _, err := te.Create(ctx, &cfg); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
