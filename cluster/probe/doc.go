// Package probe runs the startup, liveness and readiness probes of the
// containers a node runs, with Kubernetes semantics, and reports for each
// container whether it has started, whether it must be killed and whether it
// is ready.
//
// # Pipeline
//
//	agent ──Sync(targets)──▶ Manager ──one worker per probe──▶ checker
//	                           │                                 │ exec (Execer), HTTP GET, TCP connect
//	                           │◀──────── pass / fail ────────────┘
//	                           │ thresholds → Started, Live, Ready
//	reconciler ◀──Changed()────┘ ──Result(key)──▶ kill when !Live, PodReady(...)
//
// # Words
//
//   - A target is one running container: Target.Key (alloc id and container
//     name), the pod IP, its probes and ports, and when it started.
//   - A check is one run of a probe: exec exits 0; HTTP GET answers
//     200 <= status < 400 (a redirect to another host is not followed, and
//     its 3xx passes); TCP connects. A check that outlasts timeoutSeconds
//     fails.
//   - A probe's result flips to passed after successThreshold checks in a
//     row pass (always 1 for liveness and startup) and to failed after
//     failureThreshold checks in a row fail. Until it flips it is pending.
//
// # Timing
//
// A worker waits until StartedAt + initialDelaySeconds, checks at once and
// then every periodSeconds. Liveness and readiness workers do not start
// before the startup probe has passed; their initial delay still counts from
// StartedAt. The startup worker stops once its probe flips either way; the
// liveness worker stops once it fails (the container is to be killed); the
// readiness worker runs as long as the target.
//
// # Status
//
//   - Started: no startup probe, or it has passed.
//   - Live: neither the startup nor the liveness probe has failed. A pending
//     liveness probe is live. Live false means: kill the container. It stays
//     false until the target is restarted (new StartedAt) or removed.
//   - Ready: started, live, and no readiness probe or it has passed.
//
// Sync restarts a target's workers, from a fresh state, when its StartedAt,
// pod IP, probes or ports change: a restarted container is probed afresh.
//
// Production code uses the real time package; the tests run the Manager in
// testing/synctest bubbles, where that time is fake.
package probe
