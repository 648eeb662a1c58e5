//go:build linux

package engine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kedge/api"
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
