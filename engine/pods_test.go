//go:build linux

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"kedge/api"
)

// A pod's containers share its network and IPC namespaces (localhost, one
// address), its published port reaches them, its address stays while they
// restart, and removing it removes its namespaces and port.
func TestPodSharesNamespacesAndKeepsAddress(t *testing.T) {
	te := newTestEngine(t)
	te.Close()
	te.bridgeSubnet = "10.217.0.0/24"
	te.open()
	ctx := context.Background()
	if _, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, NetworkMode: "pod:nowhere", Cmd: []string{"true"}}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a container in an unknown pod: %v, want ErrNotFound", err)
	}
	pod, err := te.CreatePod(ctx, &api.PodConfig{Name: "p1", Hostname: "web-0",
		Ports: []api.PortBinding{{HostIP: "127.0.0.1", HostPort: 18091, ContainerPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.CreatePod(ctx, &api.PodConfig{Name: "p1"}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a second pod p1: %v, want ErrConflict", err)
	}
	ip := pod.NetworkSettings.IPAddress
	if !strings.HasPrefix(ip, "10.217.0.") {
		t.Fatalf("pod address %q, want one in 10.217.0.0/24", ip)
	}
	srv := te.run(api.ContainerConfig{Name: "srv", NetworkMode: "pod:p1", IpcMode: "pod:p1",
		Cmd: sh("mkdir -p /www && echo from-pod > /www/index.html && exec httpd -f -p 80 -h /www")})
	fetch := func(url string) string {
		resp, err := (&http.Client{Timeout: time.Second}).Get(url)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, "the pod's published port", 10*time.Second, func() bool { return fetch("http://127.0.0.1:18091/index.html") == "from-pod\n" })
	// A sidecar: the same localhost, address, host name and IPC namespace.
	code, out, errOut := te.runToExit(api.ContainerConfig{IpcMode: "pod:p1",
		Cmd: sh("wget -qO- http://127.0.0.1/index.html; hostname; ip -4 -o addr show eth0 | awk '{print $4}'; readlink /proc/self/ns/ipc")})
	srvIPC, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", mustInspect(t, te, srv).State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := "from-pod\nweb-0\n" + ip + "/24\n" + srvIPC + "\n"
	if code != 0 || out != want {
		t.Fatalf("sidecar: exit %d, %q (stderr %q), want %q", code, out, errOut, want)
	}
	// The pod keeps its address while its container restarts.
	zero := 0 // httpd as PID 1 ignores SIGTERM
	if err := te.Stop(ctx, srv, &zero); err != nil {
		t.Fatal(err)
	}
	if err := te.Start(ctx, srv); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the port after a restart", 10*time.Second, func() bool { return fetch("http://127.0.0.1:18091/index.html") == "from-pod\n" })
	if got := mustInspect(t, te, srv).NetworkSettings; got == nil || got.IPAddress != ip {
		t.Fatalf("after a restart the container shows %+v, want the pod's address %s", got, ip)
	}
	if err := te.RemovePod(ctx, "p1", false); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("removing a pod with containers: %v, want ErrConflict", err)
	}
	if err := te.RemovePod(ctx, "p1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Inspect(srv); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the pod's container after a forced removal: %v", err)
	}
	for _, p := range []string{te.netnsPath(pod.ID), te.podIPCPath(pod.ID)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("namespace %s left after the pod's removal", p)
		}
	}
	if fetch("http://127.0.0.1:18091/index.html") != "" {
		t.Fatal("the pod's port still answers after its removal")
	}
}

// Pods made ten at a time, as a node's reconciler starts a Deployment's
// replicas, all get their network, each its own address, while the
// containers of the others start. (A namespace an instant old sometimes
// refused its veth: about one pod in twenty failed before plumb retried.)
func TestPodsMadeInParallelAllAttach(t *testing.T) {
	te := newTestEngine(t)
	te.Close()
	te.bridgeSubnet = "10.219.0.0/24"
	te.open()
	ctx := context.Background()
	const rounds, perRound = 3, 10
	addrs := map[string]string{}
	var mu sync.Mutex
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, perRound)
		for i := range perRound {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("par-%d-%d", round, i)
				pod, err := te.CreatePod(ctx, &api.PodConfig{Name: name})
				if err != nil {
					errs <- fmt.Errorf("pod %s: %w", name, err)
					return
				}
				mu.Lock()
				addrs[name] = pod.NetworkSettings.IPAddress
				mu.Unlock()
				c, err := te.Create(ctx, &api.ContainerConfig{Image: busybox, Name: "c-" + name, NetworkMode: "pod:" + name, Cmd: []string{"sleep", "30"}})
				if err == nil {
					err = te.Start(ctx, c.ID)
				}
				if err != nil {
					errs <- fmt.Errorf("container in pod %s: %w", name, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	seen := map[string]string{}
	for name, ip := range addrs {
		if !strings.HasPrefix(ip, "10.219.0.") {
			t.Errorf("pod %s has address %q, want one in 10.219.0.0/24", name, ip)
		}
		if other, dup := seen[ip]; dup {
			t.Errorf("pods %s and %s share address %s", name, other, ip)
		}
		seen[ip] = name
	}
	for name := range addrs {
		if err := te.Remove(ctx, "c-"+name, true, false); err != nil {
			t.Errorf("remove c-%s: %v", name, err)
		}
		if err := te.RemovePod(ctx, name, true); err != nil {
			t.Errorf("remove pod %s: %v", name, err)
		}
	}
}
