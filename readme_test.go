package pulse_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestREADMESnippets keeps the Go code of every README.md compiled: each
// ```go block must appear, verbatim up to indentation and blank lines, in
// the body of an Example function of some example_test.go in this
// repository, which `go test github.com/go-pulse/pulse/...` compiles (and
// vets). A block may start with import declarations: the example's file
// must import the same paths under the same names. A block must be a
// function body: an expression alone (an options literal, say) is written
// as a statement that uses it, e.g. hub, err := pulse.NewHub(pulse.Options{...}).
func TestREADMESnippets(t *testing.T) {
	examples := exampleFuncs(t, ".")
	blocks := 0
	for _, readme := range readmes(t, ".") {
		for _, b := range goBlocks(t, readme) {
			blocks++
			imports, body := splitImports(t, b)
			where := b.file + ":" + strconv.Itoa(b.line)
			if _, err := parser.ParseFile(token.NewFileSet(), where, "package p\nfunc _() {\n"+body+"\n}\n", 0); err != nil {
				t.Errorf("%s: the Go block is not a function body (write it as statements): %v\n%s", where, err, b.text)
				continue
			}
			want := normLines(body)
			var found *exampleFunc
			for i := range examples {
				if containsLines(examples[i].lines, want) {
					found = &examples[i]
					break
				}
			}
			if found == nil {
				t.Errorf("%s: no Example function holds this Go block (up to indentation and blank lines): "+
					"put it, as it is, in an Example of the example_test.go of its package\n%s", where, b.text)
				continue
			}
			for path, name := range imports {
				if got, ok := found.imports[path]; !ok || got != name {
					t.Errorf("%s: the block imports %q as %q; %s (holding it in %s) does not", where, path, name, found.file, found.name)
				}
			}
		}
	}
	if blocks < 10 {
		t.Fatalf("found %d Go blocks in the READMEs: the extraction is broken", blocks)
	}
}

// TestREADMEReadsQuickStartSeries requires every series key the README's
// clients read (pulse.js's client.value/rate/history, the subscriber's
// Value/History) to be one the quick start registers: a snippet that reads
// a key nobody publishes shows nothing.
func TestREADMEReadsQuickStartSeries(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	quick := quickStart(t)
	names := quickStartSeries(t, quick)
	if len(names) < 2 {
		t.Fatalf("the quick start registers %v: want its counter and gauge", names)
	}
	// The key is a string literal in any of the quotes of JavaScript and Go.
	reads := regexp.MustCompile(`(?:client\.(?:value|rate|history)|sub\.(?:Value|History))\(\s*(?:"([^"]*)"|'([^']*)'|`+"`([^`]*)`)").
		FindAllStringSubmatch(string(src), -1)
	if len(reads) < 2 {
		t.Fatalf("found %d series reads in README.md (want the pulse.js and subscriber snippets'): the pattern is broken", len(reads))
	}
	for _, r := range reads {
		if key := r[1] + r[2] + r[3]; !slices.Contains(names, key) {
			t.Errorf("README.md reads series %q (%s), which the quick start does not register (it registers %v)", key, r[0], names)
		}
	}
}

// mdBlock is a fenced code block of a Markdown file.
type mdBlock struct {
	file string
	line int // of the opening fence
	text string
}

// readmes lists the README.md files of the repository.
func readmes(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	walkRepo(t, root, func(path string) {
		if filepath.Base(path) == "README.md" {
			out = append(out, path)
		}
	})
	return out
}

// goBlocks returns the ```go blocks of a Markdown file.
func goBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	return fencedBlocks(t, path, "go")
}

// fencedBlocks returns the blocks of a Markdown file fenced with ```lang.
func fencedBlocks(t *testing.T, path, lang string) []mdBlock {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []mdBlock
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+lang {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: unterminated code block", path, start+1)
		}
		out = append(out, mdBlock{file: path, line: start + 1, text: strings.Join(body, "\n")})
	}
	return out
}

// splitImports separates a block's leading import declarations (path ->
// name, "" for none) from the code after them.
func splitImports(t *testing.T, b mdBlock) (map[string]string, string) {
	t.Helper()
	lines := strings.Split(b.text, "\n")
	n := 0 // lines of the import declarations
scan:
	for n < len(lines) {
		l := strings.TrimSpace(lines[n])
		switch {
		case l == "":
			n++
			continue
		case l == "import (":
			for n < len(lines) && strings.TrimSpace(lines[n]) != ")" {
				n++
			}
			n++
			continue
		case strings.HasPrefix(l, "import "):
			n++
			continue
		}
		break scan
	}
	imports := make(map[string]string)
	if n > 0 {
		f, err := parser.ParseFile(token.NewFileSet(), b.file, "package p\n"+strings.Join(lines[:n], "\n"), parser.ImportsOnly)
		if err != nil {
			t.Fatalf("%s:%d: bad import declaration: %v", b.file, b.line, err)
		}
		for _, is := range f.Imports {
			imports[importPath(is)] = importName(is)
		}
	}
	return imports, strings.Join(lines[n:], "\n")
}

func importPath(is *ast.ImportSpec) string {
	p, _ := strconv.Unquote(is.Path.Value)
	return p
}

func importName(is *ast.ImportSpec) string {
	if is.Name == nil {
		return ""
	}
	return is.Name.Name
}

// exampleFunc is the body of an Example function, as normalised lines.
type exampleFunc struct {
	file, name string
	lines      []string
	imports    map[string]string // path -> name, "" for none
}

// exampleFuncs parses every example_test.go of the repository.
func exampleFuncs(t *testing.T, root string) []exampleFunc {
	t.Helper()
	var out []exampleFunc
	walkRepo(t, root, func(path string) {
		if filepath.Base(path) != "example_test.go" {
			return
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		imports := make(map[string]string)
		for _, is := range f.Imports {
			imports[importPath(is)] = importName(is)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Example") {
				continue
			}
			body := string(src[fset.Position(fd.Body.Lbrace).Offset+1 : fset.Position(fd.Body.Rbrace).Offset])
			out = append(out, exampleFunc{file: path, name: fd.Name.Name, lines: normLines(body), imports: imports})
		}
	})
	if len(out) < 10 {
		t.Fatalf("found %d Example functions: the walk is broken", len(out))
	}
	return out
}

// walkRepo calls fn for every file of the repository under root.
func walkRepo(t *testing.T, root string, fn func(path string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		fn(path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// normLines splits code into lines without their indentation, dropping
// blank ones.
func normLines(code string) []string {
	var out []string
	for _, l := range strings.Split(code, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsLines reports whether want appears as consecutive lines of have.
func containsLines(have, want []string) bool {
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(have); i++ {
		if slices.Equal(have[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// quickStart returns the first Go block under the README's "## Quick
// start" heading.
func quickStart(t *testing.T) mdBlock {
	t.Helper()
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := strings.Count(string(src[:strings.Index(string(src), "\n## Quick start\n")+1]), "\n") + 1
	for _, b := range goBlocks(t, "README.md") {
		if b.line > heading {
			return b
		}
	}
	t.Fatal("README.md has no Go block under ## Quick start")
	return mdBlock{}
}

// quickStartSeries returns the names of the series a Go block registers with
// pulse.NewCounter, pulse.NewGauge and pulse.GaugeFunc.
func quickStartSeries(t *testing.T, b mdBlock) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), b.file, "package p\nfunc _() {\n"+b.text+"\n}\n", 0)
	if err != nil {
		t.Fatalf("%s:%d: %v", b.file, b.line, err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "pulse" {
			return true
		}
		switch sel.Sel.Name {
		case "NewCounter", "NewGauge", "GaugeFunc":
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				names = append(names, name)
			}
		}
		return true
	})
	return names
}
