package pulse_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// documentedPackages are the directories of the packages whose exported
// names must all have a doc comment: the core, its client and the adapters.
var documentedPackages = []string{
	".", "subscriber", "sources/runtime", "sources/expvar", "sources/active",
	"sources/prometheus", "sources/otel", "cluster/nats",
}

// TestExportedNamesDocumented requires a doc comment on every exported
// function, method, type, constant, variable and struct field of the
// packages above (a field or constant may have a line comment instead; a
// grouped declaration may be documented as a group). It does not judge
// what the comments say: that is read against the code by people.
func TestExportedNamesDocumented(t *testing.T) {
	for _, dir := range documentedPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		n := 0
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, missing := range undocumented(f) {
				t.Errorf("%s: %s has no doc comment", fset.Position(missing.Pos()), missing.Name)
			}
		}
		if n == 0 {
			t.Errorf("%s: no Go file", dir)
		}
	}
}

// undocumented returns the exported names of f without a doc comment.
func undocumented(f *ast.File) []*ast.Ident {
	var out []*ast.Ident
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() && exportedRecv(d) && d.Doc == nil {
				out = append(out, d.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				out = append(out, undocumentedSpec(d, s)...)
			}
		}
	}
	return out
}

func undocumentedSpec(d *ast.GenDecl, s ast.Spec) []*ast.Ident {
	var out []*ast.Ident
	switch s := s.(type) {
	case *ast.TypeSpec:
		if !s.Name.IsExported() {
			return nil
		}
		if s.Doc == nil && d.Doc == nil {
			out = append(out, s.Name)
		}
		if st, ok := s.Type.(*ast.StructType); ok {
			for _, fld := range st.Fields.List {
				if fld.Doc != nil || fld.Comment != nil {
					continue
				}
				for _, name := range fld.Names {
					if name.IsExported() {
						out = append(out, name)
					}
				}
			}
		}
	case *ast.ValueSpec:
		if s.Doc != nil || s.Comment != nil || d.Doc != nil {
			return nil // its own comment, or its group's
		}
		for _, name := range s.Names {
			if name.IsExported() {
				out = append(out, name)
			}
		}
	}
	return out
}

// exportedRecv reports whether d is a function, or a method of an exported
// type.
func exportedRecv(d *ast.FuncDecl) bool {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return true
	}
	t := d.Recv.List[0].Type
	if st, ok := t.(*ast.StarExpr); ok {
		t = st.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
