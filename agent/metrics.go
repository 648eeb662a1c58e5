package agent

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the agent's Prometheus registry: Raft, gossip, API requests
// and engine counts, served at /metrics on both APIs.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
}

func newMetrics(a *Agent) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{reg: reg, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kedge_api_requests_total", Help: "API requests by listener, method and status code.",
	}, []string{"listener", "method", "code"})}
	reg.MustRegister(m.requests, &agentCollector{a: a})
	return m
}

// instrument counts a listener's requests.
func (m *metrics) instrument(listener string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(prometheus.Labels{"listener": listener}), h)
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// agentCollector reads the engine's and the cluster's figures at scrape time.
type agentCollector struct{ a *Agent }

var (
	descContainers    = prometheus.NewDesc("kedge_containers", "Containers by state.", []string{"state"}, nil)
	descImages        = prometheus.NewDesc("kedge_images", "Images in the local store.", nil, nil)
	descMember        = prometheus.NewDesc("kedge_cluster_member", "1 when this node is in a cluster.", nil, nil)
	descLeader        = prometheus.NewDesc("kedge_raft_leader", "1 when this node is the Raft leader.", nil, nil)
	descTerm          = prometheus.NewDesc("kedge_raft_term", "Current Raft term.", nil, nil)
	descApplied       = prometheus.NewDesc("kedge_raft_applied_index", "Last Raft index applied to the local state.", nil, nil)
	descCommit        = prometheus.NewDesc("kedge_raft_commit_index", "Last Raft index known committed.", nil, nil)
	descVoters        = prometheus.NewDesc("kedge_raft_voters", "Voters in the Raft configuration.", nil, nil)
	descLeaderChanges = prometheus.NewDesc("kedge_raft_leader_changes_total", "Leaders this node has seen elected.", nil, nil)
	descApplies       = prometheus.NewDesc("kedge_raft_apply_total", "Commands this node applied through Raft, by result.", []string{"result"}, nil)
	descApplyLatency  = prometheus.NewDesc("kedge_raft_apply_seconds_total", "Time spent committing successful commands (divide by kedge_raft_apply_total{result=\"ok\"}).", nil, nil)
	descGossip        = prometheus.NewDesc("kedge_gossip_members", "Members gossip knows, by state.", []string{"state"}, nil)
)

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descContainers, descImages, descMember, descLeader, descTerm, descApplied, descCommit,
		descVoters, descLeaderChanges, descApplies, descApplyLatency, descGossip} {
		ch <- d
	}
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	info := c.a.engine.Info()
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(info.Running), "running")
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(info.Containers-info.Running), "stopped")
	ch <- prometheus.MustNewConstMetric(descImages, prometheus.GaugeValue, float64(info.Images))
	cm := c.a.cluster.Metrics()
	ch <- prometheus.MustNewConstMetric(descMember, prometheus.GaugeValue, boolFloat(cm.Member))
	if !cm.Member {
		return
	}
	r := cm.Raft
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, boolFloat(r.State == "Leader"))
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(r.Term))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(r.AppliedIndex))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(r.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descVoters, prometheus.GaugeValue, float64(r.Voters))
	ch <- prometheus.MustNewConstMetric(descLeaderChanges, prometheus.CounterValue, float64(r.Metrics.LeaderChanges))
	ch <- prometheus.MustNewConstMetric(descApplies, prometheus.CounterValue, float64(r.Metrics.Applies), "ok")
	ch <- prometheus.MustNewConstMetric(descApplies, prometheus.CounterValue, float64(r.Metrics.ApplyErrors), "error")
	ch <- prometheus.MustNewConstMetric(descApplyLatency, prometheus.CounterValue, r.Metrics.ApplyLatencyTotal.Seconds())
	for state, n := range cm.Gossip {
		ch <- prometheus.MustNewConstMetric(descGossip, prometheus.GaugeValue, float64(n), state)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
