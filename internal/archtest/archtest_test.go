package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	Standard   bool
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "kedge/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

// rules: a package (prefix) may not import these (prefixes).
var forbidden = map[string][]string{
	"kedge/api":              {"kedge/engine", "kedge/agent", "kedge/web", "kedge/cli", "kedge/store", "kedge/security"},
	"kedge/engine":           {"kedge/agent", "kedge/web", "kedge/cli"},
	"kedge/security":         {"kedge/engine", "kedge/agent", "kedge/web", "kedge/cli", "kedge/store"},
	"kedge/store":            {"kedge/engine", "kedge/agent", "kedge/web", "kedge/cli"},
	"kedge/web":              {"kedge/agent", "kedge/cli"},
	"kedge/agent":            {"kedge/cli"},
	"kedge/engine/runtime":   {"kedge/engine/shim", "kedge/engine/image"},
	"kedge/engine/image":     {"kedge/engine/runtime", "kedge/engine/shim"},
	"kedge/security/profile": {"kedge/engine"},
	"kedge/net":              {"kedge/engine", "kedge/agent", "kedge/web", "kedge/cli", "kedge/cluster", "kedge/store"},
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		for prefix, bans := range forbidden {
			if p.ImportPath != prefix && !strings.HasPrefix(p.ImportPath, prefix+"/") {
				continue
			}
			for _, imp := range p.Imports {
				for _, ban := range bans {
					if (imp == ban || strings.HasPrefix(imp, ban+"/")) && !strings.HasPrefix(imp, prefix) {
						t.Errorf("%s imports %s: %s must not depend on %s", p.ImportPath, imp, prefix, ban)
					}
				}
			}
		}
		for _, imp := range p.Imports {
			switch {
			case imp == "kedge/cli" && p.ImportPath != "kedge":
				t.Errorf("%s imports kedge/cli: nothing but main may", p.ImportPath)
			case imp == "kedge/agent" && p.ImportPath != "kedge/cli":
				t.Errorf("%s imports kedge/agent: only kedge/cli may", p.ImportPath)
			case imp == "kedge/web" && p.ImportPath != "kedge/agent":
				t.Errorf("%s imports kedge/web: only kedge/agent may", p.ImportPath)
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Doc == "" && p.Name != "main" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
