package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A network from a user's conflist (`network create --cni-config`), run by
// Debian's standard bridge and host-local plugins: it survives an agent
// kill -9, its running container keeps its address, and the address of a
// container that ended while no agent ran is released at the restart.
func TestCNINetworkAcrossAgentKill9(t *testing.T) {
	a := startAgent(t)
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatalf("the standard CNI plugins are missing (apt-get install containernetworking-plugins): %v", err)
	}
	a.importBusybox()
	bridge, ipam := fmt.Sprintf("kcb-e2e%d", os.Getpid()%100000), t.TempDir()
	t.Cleanup(func() { exec.Command("ip", "link", "del", bridge).Run() }) // the plugin's bridge outlives the network
	conf := filepath.Join(t.TempDir(), "std.conflist")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"std","plugins":[{"type":"bridge","bridge":%q,
		"isGateway":true,"ipam":{"type":"host-local","subnet":"10.219.0.0/24","dataDir":%q}}]}`, bridge, ipam)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := a.kedge("network", "create", "--cni-config", conf, "other"); err == nil || !strings.Contains(errOut, `named "std"`) {
		t.Fatalf("a conflist named otherwise: %v %q", err, errOut)
	}
	if _, errOut, err := a.kedge("network", "create", "--driver", "cni", "--cni-config", conf, "std"); err != nil {
		t.Fatalf("network create: %v %s", err, errOut)
	}
	if out, _, err := a.kedge("network", "ls"); err != nil || !hasFieldsLine(out, "std", "cni", "10.219.0.0/24", "0") {
		t.Fatalf("network ls: %v\n%s", err, out)
	}
	if _, errOut, err := a.kedge("run", "-d", "--network", "std", "-p", "18094:80", "busybox", "true"); err == nil || !strings.Contains(errOut, "portmap") {
		t.Fatalf("a published port on a network without portmap: %v %q", err, errOut)
	}
	if _, errOut, err := a.kedge("run", "-d", "--name", "web", "--network", "std", "busybox",
		"sh", "-c", "mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www"); err != nil {
		t.Fatalf("run web: %v %s", err, errOut)
	}
	if _, errOut, err := a.kedge("run", "-d", "--name", "gone", "--network", "std", "busybox", "sleep", "300"); err != nil {
		t.Fatalf("run gone: %v %s", err, errOut)
	}
	type inspected struct {
		State struct {
			Pid int `json:"pid"`
		} `json:"state"`
		NetworkSettings *struct {
			IPAddress string `json:"ip_address"`
		} `json:"network_settings"`
	}
	inspect := func(name string) inspected {
		out, errOut, err := a.kedge("inspect", name)
		var c []inspected
		if err != nil || json.Unmarshal([]byte(out), &c) != nil || len(c) != 1 || c[0].NetworkSettings == nil {
			t.Fatalf("inspect %s: %v %q %q", name, err, out, errOut)
		}
		return c[0]
	}
	web, gone := inspect("web"), inspect("gone")
	held := func() []string {
		entries, _ := os.ReadDir(filepath.Join(ipam, "std"))
		var out []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "10.219.") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if h := held(); len(h) != 2 {
		t.Fatalf("addresses held: %v, want 2", h)
	}

	a.stop(syscall.SIGKILL)
	if err := syscall.Kill(gone.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container: %v", err)
	}
	waitFor(t, "the container to end", 10*time.Second, func() bool { return syscall.Kill(gone.State.Pid, 0) != nil })
	a.start()

	out, _, err := a.kedge("network", "inspect", "std")
	var nets []struct {
		Driver  string   `json:"driver"`
		Plugins []string `json:"plugins"`
	}
	if err != nil || json.Unmarshal([]byte(out), &nets) != nil || len(nets) != 1 || nets[0].Driver != "cni" || strings.Join(nets[0].Plugins, ",") != "bridge" {
		t.Fatalf("network inspect after the restart: %v %q", err, out)
	}
	waitFor(t, "the ended container's address to be released", 10*time.Second, func() bool {
		h := held()
		return len(h) == 1 && h[0] == web.NetworkSettings.IPAddress
	})
	out, errOut, err := a.kedge("run", "--rm", "--network", "std", "busybox", "wget", "-qO-", "http://"+web.NetworkSettings.IPAddress+"/index.html")
	if err != nil || out != "kept\n" {
		t.Fatalf("a new container reaching web: %v %q %q", err, out, errOut)
	}
	if _, _, err := a.kedge("rm", "-f", "web", "gone"); err != nil {
		t.Fatal(err)
	}
	if h := held(); len(h) != 0 {
		t.Fatalf("addresses held after rm: %v", h)
	}
	if _, errOut, err := a.kedge("network", "rm", "std"); err != nil {
		t.Fatalf("network rm: %v %s", err, errOut)
	}
}

// hasFieldsLine reports whether some line of out has exactly these fields.
func hasFieldsLine(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
