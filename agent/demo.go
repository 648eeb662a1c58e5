package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"kedge/api"
)

// Demo defaults: the image built from this binary, and the demo agent's own
// data dir and socket.
const (
	DemoImage   = "kedge.local/demo:latest"
	DemoDataDir = "/var/lib/kedge-demo"
	DemoSocket  = "/run/kedge/demo.sock"
)

// DemoOptions configure the demo workload.
type DemoOptions struct {
	// Port is the host port the demo page listens on.
	Port int
}

// Demo runs the embedded demo: an agent with its own data dir and socket, an
// image whose only file is this kedge binary serving a small page, and a
// container running it on the host network. It prints the page's URL, runs
// until ctx ends, then removes the container (the image stays for next time).
func Demo(ctx context.Context, cfg *Config, opts DemoOptions, out io.Writer) error {
	if opts.Port == 0 {
		opts.Port = 8080
	}
	// The demo keeps to its own state so that it never meets a real agent's.
	if cfg.DataDir == "" {
		cfg.DataDir = DemoDataDir
	}
	if cfg.Socket == "" {
		cfg.Socket = DemoSocket
	}
	a, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Stop()
	eng := a.Engine()
	fmt.Fprintf(out, "kedge agent running (data dir %s, socket %s)\n", cfg.DataDir, cfg.Socket)

	if _, err := eng.Images().Get(DemoImage); err != nil {
		layer, err := demoLayer(cfg.Binary)
		if err != nil {
			return err
		}
		cfgImg := ocispec.ImageConfig{
			Entrypoint: []string{"/kedge", "demo-server"},
			Cmd:        []string{"--port", strconv.Itoa(opts.Port)},
			User:       "65534:65534",
			Labels:     map[string]string{"org.opencontainers.image.title": "kedge demo"},
		}
		if _, err := eng.Images().Create(ctx, DemoImage, [][]byte{layer}, cfgImg); err != nil {
			return fmt.Errorf("build demo image: %w", err)
		}
		fmt.Fprintf(out, "built image %s from this binary\n", DemoImage)
	}
	const name = "kedge-demo"
	_ = eng.Remove(ctx, name, true, true) // a leftover of an interrupted demo
	cc := &api.ContainerConfig{
		Name: name, Image: DemoImage, NetworkMode: "bridge",
		Ports:  []api.PortBinding{{HostPort: opts.Port, ContainerPort: 8080}},
		Cmd:    []string{"--port", "8080"},
		Labels: map[string]string{"kedge.io/demo": "true"},
	}
	created, err := eng.Create(ctx, cc)
	if err != nil {
		return fmt.Errorf("create demo container: %w", err)
	}
	defer func() {
		rmCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = eng.Remove(rmCtx, created.ID, true, true)
		fmt.Fprintln(out, "demo container removed")
	}()
	if err := eng.Start(ctx, created.ID); err != nil {
		return fmt.Errorf("start demo container: %w", err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", opts.Port)
	if err := waitHTTP(ctx, url, 10*time.Second); err != nil {
		return fmt.Errorf("demo page did not come up: %w", err)
	}
	fmt.Fprintf(out, "demo container %s running on the bridge network\n", created.ID[:12])
	fmt.Fprintf(out, "Demo page: %s\n", url)
	// A one-node cluster around it, with the cluster's status page.
	// The demo keeps its admin token in its data dir, to show it every time.
	tokenFile := filepath.Join(cfg.DataDir, "demo-admin-token")
	if st, err := a.cluster.Status(ctx); err == nil && st.Member {
		fmt.Fprintf(out, "Cluster status page: https://%s/ (cluster %s, self-signed CA)\n", a.clusterAPIAddr(), st.ClusterID)
		if tok, err := os.ReadFile(tokenFile); err == nil {
			fmt.Fprintf(out, "Admin token: %s\n", bytes.TrimSpace(tok))
		}
	} else if init, err := a.cluster.Init(ctx, api.InitRequest{}); err != nil {
		fmt.Fprintf(out, "no cluster for the demo: %v\n", err)
	} else {
		a.startNodeListener()
		_ = os.WriteFile(tokenFile, []byte(init.AdminToken+"\n"), 0o600)
		fmt.Fprintf(out, "one-node cluster %s founded\n", init.ClusterID)
		fmt.Fprintf(out, "Cluster status page: %s/ (self-signed cluster CA; sign in with the admin token)\n", init.Endpoint)
		fmt.Fprintf(out, "Admin token: %s\n", init.AdminToken)
	}
	fmt.Fprintf(out, "Try: kedge -H %s ps    (Ctrl-C stops the demo)\n", cfg.Socket)
	<-ctx.Done()
	return nil
}

// demoLayer is a layer holding only the kedge binary (exe, or this
// executable when empty), at /kedge.
func demoLayer(exe string) ([]byte, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this binary: %w", err)
		}
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		return nil, fmt.Errorf("read this binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "kedge", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %s", resp.Status)
			}
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
