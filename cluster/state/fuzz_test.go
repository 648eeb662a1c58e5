package state

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzApply feeds arbitrary bytes to Apply on a populated FSM. Apply must
// never panic nor hit an internal error; a refused command must leave every
// table unchanged; nothing may store a private key.
func FuzzApply(f *testing.F) {
	at := t0.Add(time.Minute)
	seeds := [][]byte{
		must(InitCluster(testCluster())),
		must(SetGossipKey(make([]byte, 16), at)),
		must(UpsertNode(testNode("n1"), at)),
		must(UpsertNode(testNode("n2"), at)),
		must(SetNodeState("n1", NodeLeft, at)),
		must(CordonNode("n1", true, at)),
		must(SetNodeCert("n1", "s2")),
		must(SetNodeVoter("n1", false)),
		must(DeleteNode("n1", at)),
		must(CreateJoinToken(testToken("t2", 1, at))),
		must(ConsumeJoinToken("tok", "hash-tok", at)),
		must(RevokeJoinToken("tok", at)),
		must(DeleteJoinToken("tok")),
		must(CreateAPIToken(APIToken{ID: "a2", Name: "x", SecretHash: "h", Role: "admin", CreatedAt: at})),
		must(DeleteAPIToken("a1")),
		must(RevokeCert("s1", "n1", at)),
		must(RecordEvent("k", "o", "m", at)),
		[]byte(`{"v":9,"type":"node.upsert","data":{}}`),
		[]byte(`{"v":1,"type":"x","data":{}}`),
		[]byte(`{"v":1,"type":"node.voter","data":null}`),
		[]byte(`{"v":1,"type":"node.voter","data":[]}`),
		[]byte(`{"v":1,"type":"node.upsert","data":{"node":{"id":"\u0000","labels":{"":""}}}}`),
		[]byte(`[]`), []byte(`null`), {},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t).base()
		before := h.tables()
		res := h.apply(data, nil)
		if errors.Is(res.Err, ErrInternal) {
			t.Fatalf("internal error: %v", res.Err)
		}
		after := h.tables()
		if res.Err != nil && after != before {
			t.Fatalf("refused command changed the state: %v", res.Err)
		}
		if strings.Contains(after, secretMarker) {
			t.Fatal("state holds a private key marker")
		}
		if res.Err == nil { // an applied command must survive a snapshot round trip
			r := newHarness(t)
			if err := r.f.Restore(nopCloser{strings.NewReader(h.snapshot())}); err != nil {
				t.Fatalf("restore of an applied state: %v", err)
			}
		}
	})
}
