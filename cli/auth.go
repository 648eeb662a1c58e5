package cli

// Registry credentials: `login` and `logout` keep them in the Docker config
// file (~/.docker/config.json, or $DOCKER_CONFIG/config.json) exactly as
// docker does, through docker/cli's own config package (base64 "auth", or the
// configured credential helper); pulls and pushes read them back through
// go-containerregistry's DefaultKeychain and pass them to the agent.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// dockerHubServer is the key docker uses for Docker Hub's credentials.
const dockerHubServer = "https://index.docker.io/v1/"

func loginCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "login", Usage: "Store credentials for a registry (default: Docker Hub)", ArgsUsage: "[SERVER]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
				&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (prefer --password-stdin)"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
			},
			Action: loginAction,
		},
		{
			Name: "logout", Usage: "Remove the credentials of a registry", ArgsUsage: "[SERVER]",
			Action: logoutAction,
		},
	}
}

// registryServer is the config key of a registry as the user named it.
func registryServer(arg string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "https://"), "http://"), "/")
	if i := strings.Index(s, "/"); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubServer
	}
	return s
}

// dockerConfig loads the Docker config file the way docker finds it.
func dockerConfig() (*configfile.ConfigFile, error) {
	dir := os.Getenv(config.EnvOverrideConfigDir)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("find the docker config: %w", err)
		}
		dir = filepath.Join(home, ".docker")
	}
	cf, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load the docker config: %w", err)
	}
	return cf, nil
}

func loginAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef(c, "%q accepts at most 1 argument", c.Command.HelpName)
	}
	server := registryServer(c.Args().First())
	user, pass := c.String("username"), c.String("password")
	if c.Bool("password-stdin") {
		if pass != "" {
			return usagef(c, "--password and --password-stdin are mutually exclusive")
		}
		if user == "" {
			return usagef(c, "--password-stdin needs --username")
		}
		b, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || pass == "" {
		f, ok := c.App.Reader.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return usagef(c, "no terminal to ask for credentials: use --username and --password-stdin")
		}
		if user == "" {
			fmt.Fprint(c.App.Writer, "Username: ")
			line, err := bufio.NewReader(f).ReadString('\n')
			if err != nil {
				return fmt.Errorf("read the user name: %w", err)
			}
			user = strings.TrimSpace(line)
		}
		if pass == "" {
			fmt.Fprint(c.App.Writer, "Password: ")
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.App.Writer)
			if err != nil {
				return fmt.Errorf("read the password: %w", err)
			}
			pass = string(b)
		}
	}
	if user == "" || pass == "" {
		return usagef(c, "a user name and a password are required")
	}
	cf, err := dockerConfig()
	if err != nil {
		return err
	}
	if err := cf.GetCredentialsStore(server).Store(types.AuthConfig{Username: user, Password: pass, ServerAddress: server}); err != nil {
		return fmt.Errorf("store credentials for %s: %w", server, err)
	}
	fmt.Fprintf(c.App.Writer, "Credentials for %s saved in %s (the agent uses them on the next pull or push)\n", server, cf.Filename)
	return nil
}

func logoutAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef(c, "%q accepts at most 1 argument", c.Command.HelpName)
	}
	server := registryServer(c.Args().First())
	cf, err := dockerConfig()
	if err != nil {
		return err
	}
	if _, ok := cf.GetAuthConfigs()[server]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[server] == "" {
		fmt.Fprintf(c.App.Writer, "Not logged in to %s\n", server)
		return nil
	}
	if err := cf.GetCredentialsStore(server).Erase(server); err != nil {
		return fmt.Errorf("remove credentials for %s: %w", server, err)
	}
	fmt.Fprintf(c.App.Writer, "Removed login credentials for %s\n", server)
	return nil
}

// registryCredentials finds the user name and password for ref's registry
// in the Docker config (and its credential helpers). Anonymous access gives
// empty strings; a lookup failure is a warning, not an error, since the
// registry may well be public.
func registryCredentials(ctx context.Context, ref string, warn io.Writer) (string, string) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "" // the agent reports a bad reference
	}
	a, err := authn.Resolve(ctx, authn.DefaultKeychain, r.Context())
	if err != nil {
		fmt.Fprintf(warn, "WARNING: read credentials for %s: %v\n", r.Context().RegistryStr(), err)
		return "", ""
	}
	if a == authn.Anonymous {
		return "", ""
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		fmt.Fprintf(warn, "WARNING: read credentials for %s: %v\n", r.Context().RegistryStr(), err)
		return "", ""
	}
	if cfg.Username == "" && cfg.IdentityToken != "" {
		fmt.Fprintf(warn, "WARNING: %s uses an identity token, which kedge cannot pass on yet; pulling anonymously\n", r.Context().RegistryStr())
	}
	return cfg.Username, cfg.Password
}
