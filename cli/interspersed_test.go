package cli

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestIntersperseMovesKubectlStyleFlags(t *testing.T) {
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	cases := map[string]string{
		"kedge scale deployment web --replicas 3":               "kedge scale --replicas 3 deployment web",
		"kedge -H /s get pods -n kube -o wide":                  "kedge -H /s get -n kube -o wide pods",
		"kedge rollout status deployment/web --timeout=10s":     "kedge rollout status --timeout=10s deployment/web",
		"kedge exec web ls -l":                                  "kedge exec web ls -l",
		"kedge run --rm busybox sh -c true":                     "kedge run --rm busybox sh -c true",
		"kedge delete -f - ":                                    "kedge delete -f -",
		"kedge get pods web -A":                                 "kedge get -A pods web",
		"kedge describe deployment web --namespace prod -- odd": "kedge describe --namespace prod deployment web -- odd",
	}
	for in, want := range cases {
		got := intersperse(app, strings.Fields(in))
		if !slices.Equal(got, strings.Fields(want)) {
			t.Errorf("intersperse(%q) = %q, want %q", in, strings.Join(got, " "), want)
		}
	}
}
