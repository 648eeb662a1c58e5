package cli

// Image commands: `image pull|push|tag|save|import|load|ls|rm|inspect|prune`
// and Docker's top-level aliases (pull, push, images, rmi, tag, save, import, load).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"kedge/api"
)

func imageCommands() []*cli.Command {
	pullFlags := func() []cli.Flag {
		return []cli.Flag{
			&cli.BoolFlag{Name: "insecure", Usage: "reach the registry over plain HTTP"},
			&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pull (default: the agent's)"},
		}
	}
	pull := func() *cli.Command {
		return &cli.Command{Name: "pull", Usage: "Download an image from a registry", ArgsUsage: "NAME[:TAG|@DIGEST]",
			Flags: pullFlags(), Action: pullAction}
	}
	push := func() *cli.Command {
		return &cli.Command{Name: "push", Usage: "Upload an image to a registry", ArgsUsage: "NAME[:TAG]",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "insecure", Usage: "reach the registry over plain HTTP"}}, Action: pushAction}
	}
	tag := func() *cli.Command {
		return &cli.Command{Name: "tag", Usage: "Give an image another name", ArgsUsage: "SOURCE TARGET", Action: tagAction}
	}
	save := func() *cli.Command {
		return &cli.Command{Name: "save", Usage: "Save images to a tar archive (stdout by default)", ArgsUsage: "IMAGE [IMAGE...]",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a file"}},
			Action: saveAction}
	}
	imp := func(name, usage string) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: "FILE|-",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from a file instead of the argument or stdin"}},
			Action: importAction}
	}
	ls := func(name string, aliases ...string) *cli.Command {
		return &cli.Command{Name: name, Aliases: aliases, Usage: "List images",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print ids"},
				&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate ids"},
				outputFlag(),
			},
			Action: imagesAction}
	}
	rm := func(name string, aliases ...string) *cli.Command {
		return &cli.Command{Name: name, Aliases: aliases, Usage: "Remove one or more images", ArgsUsage: "IMAGE [IMAGE...]",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove even if containers use it"}},
			Action: rmiAction}
	}
	image := &cli.Command{
		Name: "image", Usage: "Manage images", Action: groupAction,
		Subcommands: []*cli.Command{
			pull(), push(), tag(), save(), imp("import", "Load an image archive (docker save or OCI, plain or gzip)"),
			imp("load", "Load an image archive (docker save or OCI, plain or gzip)"),
			ls("ls", "list"), rm("rm", "remove"),
			{Name: "inspect", Usage: "Show an image's details (JSON)", ArgsUsage: "IMAGE [IMAGE...]", Action: imageInspectAction},
			{Name: "prune", Usage: "Remove unused images",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all images no container uses, not just dangling ones"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
				},
				Action: imagePruneAction},
		},
	}
	return []*cli.Command{image, pull(), push(), tag(), save(),
		imp("import", "Load an image archive (docker save or OCI, plain or gzip)"),
		imp("load", "Load an image archive (docker save or OCI, plain or gzip)"),
		ls("images"), rm("rmi")}
}

func pullAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := &api.PullRequest{Ref: c.Args().First(), Insecure: c.Bool("insecure"), Platform: c.String("platform")}
	return pullImage(c, cl, req, c.App.Writer)
}

// pullImage pulls with registry credentials from the Docker config and a
// progress display on out.
func pullImage(c *cli.Context, cl *api.Client, req *api.PullRequest, out io.Writer) error {
	if req.Username == "" {
		req.Username, req.Password = registryCredentials(c.Context, req.Ref, c.App.ErrWriter)
	}
	pd := newProgressDisplay(out, isTerminal(out))
	last, err := cl.PullImage(c.Context, req, pd.update)
	if err != nil {
		return fmt.Errorf("pull %s: %w", req.Ref, err)
	}
	if last.Status != "" && !strings.Contains(last.Status, "\n") {
		fmt.Fprintln(out, last.Status)
	}
	if last.ImageID != "" {
		fmt.Fprintf(out, "Pulled %s (%s)\n", req.Ref, shortID(last.ImageID))
	}
	return nil
}

func pushAction(c *cli.Context) error {
	if err := requireExactArgs(c, 1, "1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := &api.PullRequest{Ref: c.Args().First(), Insecure: c.Bool("insecure")}
	req.Username, req.Password = registryCredentials(c.Context, req.Ref, c.App.ErrWriter)
	pd := newProgressDisplay(c.App.Writer, isTerminal(c.App.Writer))
	last, err := cl.PushImage(c.Context, req, pd.update)
	if err != nil {
		return fmt.Errorf("push %s: %w", req.Ref, err)
	}
	if last.Status != "" {
		fmt.Fprintln(c.App.Writer, last.Status)
	}
	return nil
}

func tagAction(c *cli.Context) error {
	if err := requireExactArgs(c, 2, "2 arguments (SOURCE TARGET)"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.TagImage(c.Context, c.Args().Get(0), c.Args().Get(1))
}

func saveAction(c *cli.Context) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	out := c.App.Writer
	path := c.String("output")
	if path == "" && isTerminal(out) {
		return usagef(c, "refusing to write an archive to a terminal: use -o FILE or redirect stdout")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	rc, err := cl.SaveImages(c.Context, c.Args().Slice())
	if err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	defer rc.Close()
	if path != "" && path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("save images: %w", err)
		}
		if _, err := io.Copy(f, rc); err != nil {
			f.Close()
			return fmt.Errorf("save images to %s: %w", path, err)
		}
		return f.Close()
	}
	if _, err := io.Copy(out, rc); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	return nil
}

func importAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef(c, "%q accepts at most 1 argument", c.Command.HelpName)
	}
	path := c.String("input")
	if path == "" {
		path = c.Args().First()
	}
	var in io.Reader = c.App.Reader
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	} else if isTerminalReader(in) {
		return usagef(c, "refusing to read an archive from a terminal: give FILE or redirect stdin")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	imgs, err := cl.ImportImage(c.Context, in)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, img := range imgs {
		if len(img.RepoTags) == 0 {
			fmt.Fprintf(c.App.Writer, "Loaded image ID: %s\n", img.ID)
		}
		for _, t := range img.RepoTags {
			fmt.Fprintf(c.App.Writer, "Loaded image: %s\n", t)
		}
	}
	return nil
}

func imagesAction(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.ListImages(c.Context)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	if format == formatJSON {
		if list == nil {
			list = []api.Image{}
		}
		return writeJSON(c.App.Writer, list)
	}
	printImages(c, list, time.Now())
	return nil
}

// printImages prints the `images` table: one row per tag.
func printImages(c *cli.Context, list []api.Image, now time.Time) {
	noTrunc := c.Bool("no-trunc")
	id := func(img api.Image) string {
		if noTrunc {
			return img.ID
		}
		return shortID(img.ID)
	}
	if c.Bool("quiet") {
		for _, img := range list {
			fmt.Fprintln(c.App.Writer, id(img))
		}
		return
	}
	tw := newTable(c.App.Writer)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, img := range list {
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, t := range tags {
			repo, tag := splitRepoTag(familiarName(t))
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id(img), timeAgo(now, img.Created), api.FormatSize(img.Size))
		}
	}
	_ = tw.Flush()
}

// familiarName shortens Docker Hub names as docker does:
// "docker.io/library/busybox:latest" -> "busybox:latest".
func familiarName(ref string) string {
	if rest, ok := strings.CutPrefix(ref, "docker.io/"); ok {
		ref = rest
		if r, ok := strings.CutPrefix(ref, "library/"); ok && !strings.Contains(r, "/") {
			ref = r
		}
	}
	return ref
}

// splitRepoTag splits "repo:tag" at the tag's colon (not a registry port's).
func splitRepoTag(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i+1:], "/") {
		return ref, "<none>"
	}
	return ref[:i], ref[i+1:]
}

func rmiAction(c *cli.Context) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	failed := 0
	for _, ref := range c.Args().Slice() {
		r, err := cl.RemoveImage(c.Context, ref, c.Bool("force"))
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "kedge: %s: %v\n", ref, err)
			failed++
			continue
		}
		for _, l := range r.Lines {
			fmt.Fprintln(c.App.Writer, l)
		}
	}
	if failed > 0 {
		return exitCode(ExitEngine)
	}
	return nil
}

func imageInspectAction(c *cli.Context) error {
	return inspectEach(c, func(ctx context.Context, cl *api.Client, ref string) (*api.Image, error) {
		return cl.InspectImage(ctx, ref)
	})
}

// inspectEach prints, as one JSON array, what fetch returns for each
// argument; a failure is reported per argument and makes the exit code 125.
func inspectEach[T any](c *cli.Context, fetch func(context.Context, *api.Client, string) (T, error)) error {
	if err := requireArgs(c, 1, "at least 1 argument"); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	out := []T{}
	failed := 0
	for _, ref := range c.Args().Slice() {
		v, err := fetch(c.Context, cl, ref)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "kedge: %s: %v\n", ref, err)
			failed++
			continue
		}
		out = append(out, v)
	}
	if err := writeJSON(c.App.Writer, out); err != nil {
		return err
	}
	if failed > 0 {
		return exitCode(ExitEngine)
	}
	return nil
}

func imagePruneAction(c *cli.Context) error {
	what := "dangling images"
	if c.Bool("all") {
		what = "images not used by any container"
	}
	if ok, err := confirm(c, "This will remove all "+what+"."); err != nil || !ok {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := cl.PruneImages(c.Context, c.Bool("all"))
	if err != nil {
		return fmt.Errorf("prune images: %w", err)
	}
	printPruned(c, r)
	return nil
}

// printPruned prints what a prune removed and the space reclaimed.
func printPruned(c *cli.Context, r *api.RemoveResponse) {
	for _, l := range r.Lines {
		fmt.Fprintln(c.App.Writer, l)
	}
	fmt.Fprintf(c.App.Writer, "Total reclaimed space: %s\n", api.FormatSize(r.Reclaimed))
}

// errAborted is a prune the user declined.
var errAborted = errors.New("aborted")

// confirm asks a yes/no question on the command's stdin unless -f was
// given; a declined prompt is an error that says nothing was removed.
func confirm(c *cli.Context, warning string) (bool, error) {
	if c.Bool("force") {
		return true, nil
	}
	fmt.Fprintf(c.App.Writer, "WARNING! %s\nAre you sure you want to continue? [y/N] ", warning)
	var answer string
	_, _ = fmt.Fscanln(c.App.Reader, &answer)
	if a := strings.ToLower(strings.TrimSpace(answer)); a == "y" || a == "yes" {
		return true, nil
	}
	return false, fmt.Errorf("%w: nothing removed (use -f to skip this question)", errAborted)
}

// isTerminalReader says whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}
