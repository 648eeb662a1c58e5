package api

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The api package is imported by the CLI on every OS: it must not import
// the engine, the cluster or any other package of Kedge.
func TestImportsNoKedgePackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "kedge" || strings.HasPrefix(path, "kedge/") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}

func TestNewObjectCoversEveryKind(t *testing.T) {
	for _, kind := range []string{KindNamespace, KindResourceQuota, KindConfigMap, KindSecret, KindPod, KindDeployment, KindDaemonSet} {
		obj, version, ok := NewObject(kind)
		if !ok || obj.GetKind() != kind || version == "" {
			t.Errorf("NewObject(%s) = %T, %q, %v", kind, obj, version, ok)
		}
		if Namespaced(kind) == (kind == KindNamespace) {
			t.Errorf("Namespaced(%s) is wrong", kind)
		}
	}
	if _, _, ok := NewObject("Service"); ok {
		t.Error("Service is not supported yet")
	}
}

func TestLabelSelectorMatches(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "edge"}
	for _, tc := range []struct {
		sel  *LabelSelector
		want bool
	}{
		{nil, false},
		{&LabelSelector{}, true},
		{&LabelSelector{MatchLabels: map[string]string{"app": "web"}}, true},
		{&LabelSelector{MatchLabels: map[string]string{"app": "api"}}, false},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: SelectorOpIn, Values: []string{"edge", "core"}}}}, true},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: SelectorOpNotIn, Values: []string{"edge"}}}}, false},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "gpu", Operator: SelectorOpDoesNotExist}}}, true},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "gpu", Operator: SelectorOpExists}}}, false},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Like"}}}, false},
	} {
		if got := tc.sel.Matches(labels); got != tc.want {
			t.Errorf("%+v.Matches = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

func TestNameRules(t *testing.T) {
	for _, tc := range []struct {
		f    func(string) bool
		name string
		ok   []string
		bad  []string
	}{
		{isDNSLabel, "DNS label", []string{"a", "web-1", strings.Repeat("a", 63)},
			[]string{"", "-a", "a-", "A", "a_b", "a.b", strings.Repeat("a", 64)}},
		{isDNSSubdomain, "DNS subdomain", []string{"a.b", "app-config", "x"}, []string{"", "a..b", ".a", "A.b"}},
		{isQualifiedName, "qualified name", []string{"app", "kedge.io/lost-after", "app.kubernetes.io/name", "A_b.c"},
			[]string{"", "/a", "a/", "Kedge.IO/x", "a/b/c", "-a"}},
		{isEnvVarName, "env name", []string{"A", "_x", "a.b-c", "PATH2"}, []string{"", "1A", "A=B", "A B"}},
		{isConfigKey, "config key", []string{"a", ".env", "tls.crt", "a_b-c"}, []string{"", ".", "..a", "a/b"}},
		{isPortName, "port name", []string{"http", "h2c", "metrics-1"}, []string{"", "80", "-http", "a--b", "HTTP", "sixteen-chars-xx"}},
	} {
		for _, s := range tc.ok {
			if !tc.f(s) {
				t.Errorf("%s %q refused", tc.name, s)
			}
		}
		for _, s := range tc.bad {
			if tc.f(s) {
				t.Errorf("%s %q accepted", tc.name, s)
			}
		}
	}
}
