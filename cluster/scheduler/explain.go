package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Explanations: why a request fails (every node's reason and kubectl's
// summary line) and why one node refuses a request (for kedge describe).

// refusal returns why node i refuses c.Request: the first refusing
// stage's reason, or "" when the node would take it. allReasons, when not
// nil, collects every refusing stage's reason instead.
func (st *state) refusal(stack *Stack, c *Context, i int32, allReasons *[]string) string {
	var first string
	refuse := func(reason string) bool {
		if first == "" {
			first = reason
		}
		if allReasons == nil {
			return true
		}
		*allReasons = append(*allReasons, reason)
		return false
	}
	if len(c.Request.AllowedNodes) > 0 && !slices.Contains(st.allowed, i) && refuse(ReasonNotAllowed) {
		return first
	}
	if st.excluded(i) && refuse(ReasonExcluded) {
		return first
	}
	for _, k := range st.filters {
		f := stack.filters[k]
		if ok, reason := f.Feasible(c, &st.nodes[i]); !ok {
			if reason == "" {
				reason = "refused by " + f.Name()
			}
			if refuse(reason) {
				return first
			}
		}
	}
	return first
}

// failure explains why no node takes c.Request. It runs after place, so
// the active filters and the request's marks are still in st.
func (st *state) failure(stack *Stack, c *Context) Failure {
	f := Failure{RequestID: c.Request.ID, Reasons: make(map[string]string, len(st.nodes))}
	counts := map[string]int{}
	for i := range st.nodes {
		reason := st.refusal(stack, c, int32(i), nil)
		if reason == "" {
			continue // a BatchFilter disagreeing with its Feasible
		}
		f.Reasons[nodeName(st.nodes[i].node)] = reason
		for rest, more := reason, true; more; {
			var atom string
			atom, rest, more = strings.Cut(rest, ", ")
			counts[atom]++
		}
	}
	f.Summary = summary(len(st.nodes), counts)
	return f
}

func nodeName(n *Node) string {
	if n.Name != "" {
		return n.Name
	}
	return n.ID
}

// summary writes kubectl's line for a pod that cannot be scheduled: the
// count of every reason, most frequent first.
func summary(nodes int, counts map[string]int) string {
	if nodes == 0 {
		return "0/0 nodes are available: no nodes in the cluster."
	}
	type entry struct {
		reason string
		n      int
	}
	es := make([]entry, 0, len(counts))
	for r, n := range counts {
		es = append(es, entry{r, n})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.reason, b.reason)
	})
	var b strings.Builder
	b.WriteString("0/" + strconv.Itoa(nodes) + " nodes are available")
	for k, e := range es {
		if k == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(e.n) + " " + e.reason)
	}
	b.WriteString(".")
	return b.String()
}

// ExplainNode tells why the default stack would not place r on the node
// nodeID of s: every reason, in filter order (nil if the node would take
// it). It is what `kedge describe` shows per node.
func ExplainNode(s Snapshot, r Request, nodeID string) ([]string, error) {
	return DefaultStack().Explain(s, r, nodeID)
}

// Explain tells why the stack would not place r on the node nodeID of s:
// every reason, in filter order (nil if the node would take it). The error
// wraps ErrUnknownNode when s has no such node.
func (stk *Stack) Explain(s Snapshot, r Request, nodeID string) ([]string, error) {
	st := newState(s, []Request{r})
	i, ok := st.byID[nodeID]
	if !ok {
		return nil, fmt.Errorf("node %q: %w", nodeID, ErrUnknownNode)
	}
	c := st.prepare(&r)
	st.activate(stk, c)
	st.candidates(&r)
	var reasons, out []string
	st.refusal(stk, c, i, &reasons)
	for _, reason := range reasons {
		out = append(out, strings.Split(reason, ", ")...)
	}
	return out, nil
}
