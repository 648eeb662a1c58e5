// Package reconcile turns the allocations placed on this node into running
// containers, and keeps them so: it is the node side of the orchestrator.
//
// The package has a pure core and a thin loop around it:
//
//	Source.Desired ──┐                         ┌─> Engine.Apply (due actions, in order)
//	                 ├─> Diff(desired, actual, ├─> BackoffState.Record (caller-kept)
//	Engine.ListPods ─┘   NodeContext, backoff) └─> waiting restarts set the next wake-up
//	Engine.ListPods ───> Summarize ───> changed? ───> Reporter.Report (batched, <= 1 per 500 ms)
//
// Diff and Summarize are pure functions: no clock, no I/O, the same inputs give
// the same output in the same order. Run is the loop: it reconciles when the
// Source says its set changed, and at least every interval (1 s). LocalStore
// (the package's only I/O) keeps the last desired set on disk so that
// AutonomousSource can serve it when the control plane is unreachable, also
// after a reboot: edge autonomy.
//
// # Words
//
//   - Desired: one allocation placed on this node: an alloc id and its pod spec.
//     The spec's Hash stands for the whole spec: any change replaces the pod.
//   - Actual: what the engine reports for a pod labelled with a kedge alloc id.
//   - Action: one step for the engine; each names its alloc, its container
//     (when it is about one) and a human Reason suitable for an event.
//   - Due / waiting: an Action with a NotBefore in the future is waiting (a
//     restart in back-off); Run does not apply it, but wakes up for it.
//   - Cut off: the node has lost the control plane (NodeContext).
//
// # Rules of Diff
//
//  1. A pod whose alloc is not desired is stopped (if anything runs) and removed:
//     stale copies after a reschedule, or after the node comes back.
//  2. A desired alloc without a pod is created: images first (all of the pod's,
//     so a cut-off link shows up before a half-made pod), then the sandbox, then
//     the first containers.
//  3. Init containers run one at a time, in spec order, each to exit code 0
//     before the next; app containers start only after all of them. Once any
//     app container exists the init phase is over (as in Kubernetes: init
//     containers whose records were collected are not re-run).
//  4. A pod whose spec hash differs, whose sandbox is gone, or which holds a
//     container not in its spec is replaced (one ReplacePod action), and its
//     containers start again from the first init container.
//  5. An exited container is restarted per the restart policy: Always restarts
//     any app container; OnFailure restarts on a non-zero exit; Never does not
//     restart. Init containers restart only on failure, and not under Never
//     (the pod has failed). Restarts back off 10 s, 20 s, 40 s ... capped at
//     5 min, counted from the exit; a run of 10 min or more resets the count.
//  6. A running container whose liveness check failed is killed; rule 5 then
//     decides whether and when it restarts.
//  7. Cut off from the control plane for at least an alloc's stop-after
//     (kedge.io/stop-after), its pod is stopped, and while cut off nothing of it
//     is created, started or restarted. It is not removed: its logs stay for
//     inspection, and when the node returns the control plane decides (the
//     alloc is gone -> rule 1; still here -> rules 2-5 bring it back).
//  8. No alloc is both created and removed in one round: per alloc Diff emits
//     at most one of CreatePod, ReplacePod and RemovePod, and never a StopPod
//     together with a start.
//  9. Order: removals and kills first, then replacements, then creations and
//     starts, then waiting restarts; allocs in id order within each group. An
//     edge box is small: stopping what must go first frees its ports, memory
//     and disk for what comes, so a reschedule back onto the same node (same
//     host port) does not fail for a port the stale copy still holds.
//
// Probes themselves (exec, HTTP, TCP) are run by the engine next to each
// container; Diff reads only their verdict (ContainerState.Healthy, .Ready).
package reconcile
