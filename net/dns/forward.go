package dns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// forward asks the upstreams in order and returns the first useful answer.
// An upstream that fails (no answer in its share of the time budget, a
// network error, SERVFAIL or REFUSED) passes the query to the next one;
// when none answers the client gets SERVFAIL, always within Timeout.
func (s *Server) forward(ctx context.Context, r *dns.Msg) *dns.Msg {
	s.mu.Lock()
	ups := s.upstreams
	s.mu.Unlock()
	if len(ups) == 0 {
		return failure(r, dns.RcodeServerFailure)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	q := r.Copy()
	q.Response, q.Truncated = false, false
	q.Id = dns.Id()       // our own random id: an answer must match it, not the client's
	var fallback *dns.Msg // a truncated or failed answer, better than nothing
	for i, up := range ups {
		if ctx.Err() != nil {
			break
		}
		share := time.Until(deadline) / time.Duration(len(ups)-i)
		actx, acancel := context.WithTimeout(ctx, share)
		m, err := s.ask(actx, q, up)
		acancel()
		if err != nil {
			s.log.Debug("dns upstream failed", "upstream", up, "name", q.Question[0].Name, "err", err)
			continue
		}
		if m.Truncated || m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused {
			s.log.Debug("dns upstream gave no full answer", "upstream", up, "name", q.Question[0].Name,
				"rcode", dns.RcodeToString[m.Rcode], "truncated", m.Truncated)
			if fallback == nil || fallback.Rcode != dns.RcodeSuccess {
				fallback = m
			}
			continue
		}
		return m
	}
	if fallback != nil && fallback.Rcode == dns.RcodeSuccess {
		return fallback
	}
	return failure(r, dns.RcodeServerFailure)
}

// ask sends q to one upstream over UDP and again over TCP when the UDP
// answer comes back truncated. It returns the truncated answer if TCP fails.
func (s *Server) ask(ctx context.Context, q *dns.Msg, upstream string) (*dns.Msg, error) {
	m, err := exchange(ctx, "udp", q, upstream)
	if err != nil {
		return nil, fmt.Errorf("udp: %w", err)
	}
	if !m.Truncated {
		return m, nil
	}
	full, err := exchange(ctx, "tcp", q, upstream)
	if err != nil {
		s.log.Debug("dns upstream tcp retry failed", "upstream", upstream, "err", err)
		return m, nil
	}
	return full, nil
}

// exchange is one query and answer on one connection, bounded by ctx: its
// deadline and its cancellation (Close) both end the wait.
func exchange(ctx context.Context, network string, q *dns.Msg, upstream string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, UDPSize: dns.DefaultMsgSize, Timeout: time.Until(deadlineOf(ctx))}
	co, err := c.DialContext(ctx, upstream)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { co.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	m, _, err := c.ExchangeWithConnContext(ctx, q, co)
	if err != nil {
		return nil, err
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) ||
		m.Question[0].Qtype != q.Question[0].Qtype || m.Question[0].Qclass != q.Question[0].Qclass {
		return nil, ErrMismatch
	}
	return m, nil
}

// deadlineOf returns ctx's deadline, or one DefaultTimeout from now.
func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(DefaultTimeout)
}
