package probe

import "context"

// Execer runs a command inside a running container. The agent supplies it,
// wrapping the engine's exec.
//
// Rules:
//   - containerKey is the Target.Key of the container.
//   - exitCode is the command's exit status; err reports a failure to run it
//     at all (no such container, exec refused), never a non-zero exit.
//   - Exec must return promptly once ctx is done, stopping the command; the
//     probe counts a check whose ctx expired as a timeout whatever it
//     returns.
//   - Exec is called from many goroutines at once.
type Execer interface {
	Exec(ctx context.Context, containerKey string, cmd []string) (exitCode int, err error)
}
