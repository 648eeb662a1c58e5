package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// After a kill -9 of the agent, running containers keep their networking
// (published port, name on their network), and a container that ended while
// no agent ran has its address, veth and name collected at the restart, so
// its address is not leaked and not given twice.
func TestAgentKill9KeepsNetworking(t *testing.T) {
	a := startAgent(t)
	a.importBusybox()
	if _, errOut, err := a.kedge("network", "create", "--subnet", "10.218.0.0/24", "front"); err != nil {
		t.Fatalf("network create: %v %s", err, errOut)
	}
	if _, errOut, err := a.kedge("run", "-d", "--name", "web", "--network", "front", "-p", "127.0.0.1:18093:80", "busybox",
		"sh", "-c", "mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www"); err != nil {
		t.Fatalf("run web: %v %s", err, errOut)
	}
	if _, errOut, err := a.kedge("run", "-d", "--name", "gone", "--network", "front", "busybox", "sleep", "300"); err != nil {
		t.Fatalf("run gone: %v %s", err, errOut)
	}
	type inspected struct {
		State struct {
			Pid     int  `json:"pid"`
			Running bool `json:"running"`
		} `json:"state"`
		NetworkSettings *struct {
			IPAddress string `json:"ip_address"`
		} `json:"network_settings"`
	}
	inspect := func(name string) inspected {
		out, errOut, err := a.kedge("inspect", name)
		var c []inspected
		if err != nil || json.Unmarshal([]byte(out), &c) != nil || len(c) != 1 {
			t.Fatalf("inspect %s: %v %q %q", name, err, out, errOut)
		}
		return c[0]
	}
	out, _, err := a.kedge("network", "inspect", "front")
	var nets []struct {
		Bridge string `json:"bridge"`
	}
	if err != nil || json.Unmarshal([]byte(out), &nets) != nil || len(nets) != 1 || nets[0].Bridge == "" {
		t.Fatalf("network inspect: %v %q", err, out)
	}
	bridge := nets[0].Bridge
	webIP, gone := inspect("web").NetworkSettings.IPAddress, inspect("gone")
	// Container ports on the bridge, without its keeper link.
	ports := func() []string {
		entries, _ := os.ReadDir(filepath.Join("/sys/class/net", bridge, "brif"))
		var out []string
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "kk") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	// Addresses the network's IPAM holds.
	held := func() []string {
		entries, _ := os.ReadDir(filepath.Join(a.dataDir, "net", "front"))
		var out []string
		for _, e := range entries {
			if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if n, h := len(ports()), len(held()); n != 2 || h != 2 {
		t.Fatalf("before: %d veths and %d addresses, want 2 and 2", n, h)
	}

	a.stop(syscall.SIGKILL)
	// "gone" ends while no agent runs: its supervisor records the exit and
	// quits, but its namespace, veth and address are still there.
	if err := syscall.Kill(gone.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container: %v", err)
	}
	waitFor(t, "the container to end", 10*time.Second, func() bool {
		return syscall.Kill(gone.State.Pid, 0) != nil
	})
	a.start()

	if g := inspect("gone"); g.State.Running {
		t.Fatal("gone still shows running after the agent restart")
	}
	waitFor(t, "the ended container's veth and address to be collected", 10*time.Second, func() bool {
		return len(ports()) == 1 && len(held()) == 1
	})
	if h := held(); len(h) != 1 || h[0] != webIP {
		t.Fatalf("addresses held after the restart: %v, want only web's %s", h, webIP)
	}
	get := func(url string) string {
		resp, err := (&http.Client{Timeout: time.Second}).Get(url)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get("http://127.0.0.1:18093/index.html"); body != "kept\n" {
		t.Fatalf("web's published port after the agent's kill -9: %q", body)
	}
	out, errOut, err := a.kedge("run", "--rm", "--network", "front", "busybox", "sh", "-c",
		"wget -qO- http://web/index.html && ip -4 -o addr show eth0 | awk '{print $4}'")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || lines[0] != "kept" {
		t.Fatalf("a new container reaching web by name: %v %q %q", err, out, errOut)
	}
	if lines[1] == webIP+"/24" {
		t.Fatalf("a new container got web's address %s", webIP)
	}
	if _, _, err := a.kedge("rm", "-f", "web", "gone"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := a.kedge("network", "rm", "front"); err != nil {
		t.Fatalf("network rm: %v %s", err, errOut)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", bridge)); err == nil {
		t.Fatalf("bridge %s left after network rm", bridge)
	}
}
