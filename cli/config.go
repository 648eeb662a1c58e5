package cli

// The CLI config (~/.kedge/config.json): how to reach a cluster from a
// machine that is not a node. `kedge init` writes it for root; `-H
// https://NODE:7780` uses its CA and token (KEDGE_TOKEN overrides the token).

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

// cliConfig is the CLI's config file.
type cliConfig struct {
	// Endpoints are the cluster's API URLs (https://NODE:7780).
	Endpoints []string `json:"endpoints"`
	// CACert is the cluster CA (PEM) that node certificates chain to.
	CACert string `json:"ca_cert"`
	// Token is the bearer token.
	Token string `json:"token"`
}

func cliConfigPath() string {
	if p := os.Getenv("KEDGE_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".kedge", "config.json")
}

func loadCLIConfig() (*cliConfig, error) {
	b, err := os.ReadFile(cliConfigPath())
	if errors.Is(err, os.ErrNotExist) {
		return &cliConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CLI config: %w", err)
	}
	var cfg cliConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("CLI config %s: %w", cliConfigPath(), err)
	}
	return &cfg, nil
}

func saveCLIConfig(cfg *cliConfig) error {
	p := cliConfigPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(b, '\n'), 0o600)
}

// newClient returns an API client for the --host of c: the local agent's
// socket, or a node's HTTPS API verified with the CLI config's CA.
func newClient(c *cli.Context) (*api.Client, error) {
	host := c.String("host")
	if !strings.HasPrefix(host, "https://") {
		cl, err := api.NewClient(host)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		return cl, nil
	}
	cfg, err := loadCLIConfig()
	if err != nil {
		return nil, err
	}
	opts := api.ClientOptions{Token: cfg.Token}
	if t := os.Getenv("KEDGE_TOKEN"); t != "" {
		opts.Token = t
	}
	if cfg.CACert == "" {
		return nil, fmt.Errorf("no cluster CA in %s: copy it from a node (written by kedge init): %w", cliConfigPath(), api.ErrInvalid)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.CACert)) {
		return nil, fmt.Errorf("the CA in %s is not a PEM certificate: %w", cliConfigPath(), api.ErrInvalid)
	}
	// Nodes are reached by address; their certificates all carry this name.
	opts.TLS = &tls.Config{RootCAs: pool, ServerName: "node.kedge.internal", MinVersion: tls.VersionTLS13}
	cl, err := api.NewClientWith(host, opts)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return cl, nil
}
