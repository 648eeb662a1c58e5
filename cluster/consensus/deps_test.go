package consensus

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package a leaf of Kedge: it takes the FSM and the
// TLS configurations as arguments instead of importing cluster/state or
// security/pki, so it imports no kedge package at all.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "kedge" || strings.HasPrefix(path, "kedge/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
