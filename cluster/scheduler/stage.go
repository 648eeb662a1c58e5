package scheduler

// Filter is a feasibility stage: it refuses nodes that cannot take a request.
//
// The Context and NodeInfo are valid during the call only; a stage must not
// keep them. Feasible is called once per node and request on the hot path
// (unless the filter is a BatchFilter), so it must
// not allocate: return a constant or precomputed reason. Feasible must be a
// pure function of its arguments (no clock, no randomness, no state of its
// own), which is what makes a plan deterministic.
type Filter interface {
	// Name identifies the stage in tests and explanations.
	Name() string
	// Feasible reports whether n can take c.Request; when it cannot, reason
	// says why in the words of kubectl ("Insufficient memory"). A reason
	// may name several causes separated by ", "; each counts separately in
	// a failure's summary.
	Feasible(c *Context, n *NodeInfo) (ok bool, reason string)
}

// Scorer is a ranking stage: it scores the nodes that passed every filter.
// The node with the highest weighted sum of scores wins.
//
// Score has the same obligations as Filter.Feasible: no allocation, pure.
type Scorer interface {
	// Name identifies the stage.
	Name() string
	// Weight is the stage's share of the total score; it is fixed. A
	// weight of 0 or less turns the stage off.
	Weight() float64
	// Score rates n for c.Request in [0, 1], 1 being best.
	Score(c *Context, n *NodeInfo) float64
}

// Conditional is an optional capability of a Filter or Scorer: a stage that
// can tell, once per request, that it has nothing to do. An inactive filter
// passes every node; an inactive scorer is left out of the request's score
// (its weight too). Stages without the method are always active.
type Conditional interface {
	// Applies reports whether the stage has work for c.Request.
	Applies(c *Context) bool
}

// BatchFilter is an optional capability of a Filter: filtering a whole
// candidate list in one call, which saves an indirect call per node on the
// hot path. It must agree with Feasible node for node.
type BatchFilter interface {
	// FilterNodes keeps, in order, the nodes of cand that Feasible would
	// pass, compacting cand in place, and returns the kept prefix.
	FilterNodes(c *Context, cand []*NodeInfo) []*NodeInfo
}

// BatchScorer is an optional capability of a Scorer: scoring a whole
// candidate list in one call. It must agree with Score node for node.
type BatchScorer interface {
	// ScoreNodes adds w times Score(c, cand[k]) to sums[k] for every k;
	// len(sums) == len(cand).
	ScoreNodes(c *Context, cand []*NodeInfo, w float64, sums []float64)
}

// Stack is a chain of filters and scorers. It holds no mutable state, so
// one Stack may serve concurrent Schedule calls as long as its stages are
// pure (those of this package are).
type Stack struct {
	filters []Filter
	scorers []Scorer
	// The optional capabilities, looked up once: nil where absent.
	filterBatch []BatchFilter
	filterCond  []Conditional
	scorerBatch []BatchScorer
	scorerCond  []Conditional
}

// NewStack returns a stack running filters in order (a node is refused by
// the first that refuses it, so cheap and selective filters go first) and
// summing the weighted scores of scorers.
func NewStack(filters []Filter, scorers []Scorer) *Stack {
	s := &Stack{filters: append([]Filter(nil), filters...), scorers: append([]Scorer(nil), scorers...)}
	for _, f := range s.filters {
		b, _ := f.(BatchFilter)
		c, _ := f.(Conditional)
		s.filterBatch = append(s.filterBatch, b)
		s.filterCond = append(s.filterCond, c)
	}
	for _, sc := range s.scorers {
		b, _ := sc.(BatchScorer)
		c, _ := sc.(Conditional)
		s.scorerBatch = append(s.scorerBatch, b)
		s.scorerCond = append(s.scorerCond, c)
	}
	return s
}

// Default scorer weights. Each weight is larger than the sum of the largest
// possible swings of the stages below it (a spread stage's score drops by at
// least half per replica above the minimum), so the ranking is in effect
// lexicographic: spread across topology domains first, then avoid
// PreferNoSchedule taints, then spread across nodes, then emptier and
// balanced nodes.
const (
	WeightSpreadTopology   = 32
	WeightPreferNoSchedule = 8
	WeightSpreadNodes      = 5
	WeightLeastAllocated   = 1
	WeightBalanced         = 1
)

// DefaultStack returns the stack Kedge schedules with: filters NodeReady,
// ResourcesFit, NodeSelector, Taints, HostPorts; scorers SpreadTopology,
// PreferNoScheduleTaints, SpreadNodes, LeastAllocated, BalancedAllocation,
// weighted by the Weight constants.
func DefaultStack() *Stack {
	return NewStack(
		[]Filter{NodeReady{}, ResourcesFit{}, NodeSelector{}, Taints{}, HostPorts{}},
		[]Scorer{
			SpreadTopology{W: WeightSpreadTopology},
			PreferNoScheduleTaints{W: WeightPreferNoSchedule},
			SpreadNodes{W: WeightSpreadNodes},
			LeastAllocated{W: WeightLeastAllocated},
			BalancedAllocation{W: WeightBalanced},
		},
	)
}

// Filters returns the stack's filters in order.
func (s *Stack) Filters() []Filter { return append([]Filter(nil), s.filters...) }

// Scorers returns the stack's scorers.
func (s *Stack) Scorers() []Scorer { return append([]Scorer(nil), s.scorers...) }
