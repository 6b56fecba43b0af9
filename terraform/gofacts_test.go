package terraform_test

// What the Go code says about its deployment, read from its source with
// go/parser (no package of the repository is imported, so this test builds
// in a second and keeps working while those packages change): the function
// entry points, the environment each component reads, resource-name
// defaults, the pipeline's delivery limit, log messages and their fields.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// goPackage is the parsed non-test files of one directory.
type goPackage struct {
	dir    string // relative to the repository root, slash-separated
	fset   *token.FileSet
	files  map[string]*ast.File // by file name
	consts map[string]string    // top-level string and integer constants, by name
	deps   []string             // directories of the module's packages it imports
}

func parseGoPackage(root, module, dir string) (*goPackage, error) {
	abs := filepath.Join(root, filepath.FromSlash(dir))
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	p := &goPackage{dir: dir, fset: token.NewFileSet(), files: map[string]*ast.File{}, consts: map[string]string{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(p.fset, filepath.Join(abs, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		p.files[name] = f
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(path, module+"/"); ok && !slices.Contains(p.deps, rel) {
				p.deps = append(p.deps, rel)
			}
		}
	}
	if len(p.files) == 0 {
		return nil, fmt.Errorf("%s: no Go files", dir)
	}
	for _, f := range p.sortedFiles() {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if v, ok := literal(vs.Values[i]); ok {
							p.consts[n.Name] = v
						}
					}
				}
			}
		}
	}
	return p, nil
}

func (p *goPackage) sortedFiles() []*ast.File {
	names := make([]string, 0, len(p.files))
	for n := range p.files {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*ast.File, len(names))
	for i, n := range names {
		out[i] = p.files[n]
	}
	return out
}

func (p *goPackage) pos(n ast.Node) string {
	pos := p.fset.Position(n.Pos())
	return fmt.Sprintf("%s/%s:%d", p.dir, filepath.Base(pos.Filename), pos.Line)
}

// literal is the value of a string or integer literal.
func literal(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok {
		return "", false
	}
	switch bl.Kind {
	case token.STRING:
		s, err := strconv.Unquote(bl.Value)
		return s, err == nil
	case token.INT:
		return bl.Value, true
	}
	return "", false
}

// stringValue resolves a literal, a constant of the package, or pkg.Const
// through other.
func (p *goPackage) stringValue(e ast.Expr, other map[string]*goPackage) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		return literal(x)
	case *ast.Ident:
		v, ok := p.consts[x.Name]
		return v, ok
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			if op := other[id.Name]; op != nil {
				v, ok := op.consts[x.Sel.Name]
				return v, ok
			}
		}
	}
	return "", false
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg && s.Sel.Name == name
}

// envRead is an environment variable some code reads by a constant name.
type envRead struct {
	name string
	at   string
}

// lookupNames are the identifiers through which code reads the environment
// with an injected lookup function (os.LookupEnv in production).
var lookupNames = map[string]bool{"lookup": true, "getenv": true, "lookupEnv": true}

// envReads finds the variables the package reads by constant name: the
// arguments of os.Getenv and os.LookupEnv and, when injected is set, of
// injected lookup functions, also through a local helper whose parameter is
// passed to one of those (like the worker's intVar). Shared packages are
// read without injected lookups: cloudenv.FromEnv reads every Var constant
// that way, and what a component needs of those is its requirement list.
func (p *goPackage) envReads(other map[string]*goPackage, injected bool) []envRead {
	var out []envRead
	isRead := func(fun ast.Expr, wrappers map[string]bool) bool {
		if isSelector(fun, "os", "Getenv") || isSelector(fun, "os", "LookupEnv") {
			return true
		}
		id, ok := fun.(*ast.Ident)
		return ok && injected && (lookupNames[id.Name] || wrappers[id.Name])
	}
	for _, f := range p.sortedFiles() {
		ast.Inspect(f, func(n ast.Node) bool {
			fd, ok := n.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				return true
			}
			// Local closures that pass their first parameter to a read.
			wrappers := map[string]bool{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				as, ok := n.(*ast.AssignStmt)
				if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
					return true
				}
				id, ok := as.Lhs[0].(*ast.Ident)
				fl, ok2 := as.Rhs[0].(*ast.FuncLit)
				if !ok || !ok2 || len(fl.Type.Params.List) == 0 || len(fl.Type.Params.List[0].Names) == 0 {
					return true
				}
				param := fl.Type.Params.List[0].Names[0].Name
				ast.Inspect(fl.Body, func(n ast.Node) bool {
					c, ok := n.(*ast.CallExpr)
					if ok && len(c.Args) > 0 && isRead(c.Fun, nil) {
						if a, ok := c.Args[0].(*ast.Ident); ok && a.Name == param {
							wrappers[id.Name] = true
						}
					}
					return true
				})
				return true
			})
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok || len(c.Args) == 0 || !isRead(c.Fun, wrappers) {
					return true
				}
				if v, ok := p.stringValue(c.Args[0], other); ok {
					out = append(out, envRead{name: v, at: p.pos(c)})
				}
				return true
			})
			return false
		})
	}
	return out
}

// logCall is a slog call with a constant message.
type logCall struct {
	at     string
	fields map[string]bool // string constants of the enclosing function: the keys it logs
	// args are the keys the call itself logs (constant key-value pairs and
	// slog.Xxx("key", value) attributes after the message), each with its
	// value expression: a field a metric reads its value from must be one.
	args map[string]ast.Expr
}

// callArgs is what logCall.args says of a logger call's arguments.
func (p *goPackage) callArgs(c *ast.CallExpr, named map[string]*goPackage) map[string]ast.Expr {
	out := map[string]ast.Expr{}
	for i := 1; i < len(c.Args); i++ {
		if k, ok := p.stringValue(c.Args[i], named); ok && i+1 < len(c.Args) {
			out[k] = c.Args[i+1]
			i++
			continue
		}
		if a, ok := c.Args[i].(*ast.CallExpr); ok && len(a.Args) == 2 {
			if sel, ok := a.Fun.(*ast.SelectorExpr); ok && isSelector(sel, "slog", sel.Sel.Name) {
				if k, ok := p.stringValue(a.Args[0], named); ok {
					out[k] = a.Args[1]
				}
			}
		}
	}
	return out
}

// textValue reports whether a logged value is certainly text: a string
// literal, a string(...) conversion, fmt.Sprint*, or a .String() or .Error()
// call. A metric cannot take a distribution's values from such a field.
func textValue(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.STRING
	case *ast.CallExpr:
		switch f := x.Fun.(type) {
		case *ast.Ident:
			return f.Name == "string"
		case *ast.SelectorExpr:
			return isSelector(f, "fmt", f.Sel.Name) || ((f.Sel.Name == "String" || f.Sel.Name == "Error") && len(x.Args) == 0)
		}
	}
	return false
}

// logCalls maps each constant message of a logger call (Debug, Info, Warn,
// Error on any logger) to its call sites.
func (p *goPackage) logCalls(into map[string][]logCall, named map[string]*goPackage) {
	levels := map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true}
	for _, f := range p.sortedFiles() {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			strs := map[string]bool{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if e, ok := n.(ast.Expr); ok {
					if s, ok := p.stringValue(e, named); ok {
						strs[s] = true
					}
				}
				return true
			})
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok || len(c.Args) == 0 {
					return true
				}
				sel, ok := c.Fun.(*ast.SelectorExpr)
				if !ok || !levels[sel.Sel.Name] {
					return true
				}
				if bl, ok := c.Args[0].(*ast.BasicLit); ok && bl.Kind == token.STRING {
					msg, _ := strconv.Unquote(bl.Value)
					into[msg] = append(into[msg], logCall{at: p.pos(c), fields: strs, args: p.callArgs(c, named)})
				}
				return true
			})
		}
	}
}

// goFacts is everything the checks need from the Go source.
type goFacts struct {
	root string

	// entryPoints maps each name registered with functions.CloudEvent to
	// the package directory that registers it.
	entryPoints map[string]string

	cloudenvVars map[string]string   // cloudenv constant name -> variable name
	requirements map[string][]string // cloudenv.XxxNeeds -> variable names
	defaults     map[string]string   // cloudenv.Defaults field -> value

	// Per component directory (functions/scanner, jobs/worker, ...).
	needs     map[string]string    // -> the cloudenv.XxxNeeds it passes to FromEnv
	reads     map[string][]envRead // -> variables it, or a package it imports, reads by constant name
	usesCloud map[string]bool      // -> builds the Google Cloud stack (gcp.New)
	launches  map[string]bool      // -> gcp.Options{Launcher: true}: starts job executions

	maxDeliveries        int // pipeline Options.MaxDeliveries default
	stagingDataset       string
	stagingExpiryDays    int
	treePrefix           string
	manifestObject       string
	storageFinalizedType string
	pubsubPublishedType  string
	logLabelKeys         map[string]bool

	logs map[string][]logCall // message -> call sites

}

// platformSet are variables Cloud Run sets itself.
func platformSet(name string) bool {
	return name == "PORT" || strings.HasPrefix(name, "CLOUD_RUN_") || strings.HasPrefix(name, "K_")
}

var (
	factsOnce sync.Once
	facts     *goFacts
	factsErr  error
)

func loadGoFacts(t *testing.T) *goFacts {
	t.Helper()
	factsOnce.Do(func() { facts, factsErr = readGoFacts(repoRoot(t)) })
	if factsErr != nil {
		t.Fatalf("reading the Go source: %v", factsErr)
	}
	return facts
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func readGoFacts(root string) (*goFacts, error) {
	g := &goFacts{
		root:         root,
		entryPoints:  map[string]string{},
		cloudenvVars: map[string]string{},
		requirements: map[string][]string{},
		defaults:     map[string]string{},
		needs:        map[string]string{},
		reads:        map[string][]envRead{},
		usesCloud:    map[string]bool{},
		launches:     map[string]bool{},
		logLabelKeys: map[string]bool{},
		logs:         map[string][]logCall{},
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		return nil, fmt.Errorf("go.mod: no module line")
	}
	module := string(m[1])
	pkgs := map[string]*goPackage{}
	load := func(dir string) (*goPackage, error) {
		if p := pkgs[dir]; p != nil {
			return p, nil
		}
		p, err := parseGoPackage(root, module, dir)
		if err != nil {
			return nil, err
		}
		pkgs[dir] = p
		return p, nil
	}
	// Packages referred to by their import name in the selectors we resolve.
	named := map[string]*goPackage{}
	for name, dir := range map[string]string{
		"cloudenv":  "shared/cloudenv",
		"config":    "shared/config",
		"treestore": "shared/treestore",
		"eventdata": "shared/eventdata",
		"pipeline":  "shared/pipeline",
		"logging":   "shared/logging",
	} {
		p, err := load(dir)
		if err != nil {
			return nil, err
		}
		named[name] = p
	}

	if err := g.readCloudenv(named["cloudenv"]); err != nil {
		return nil, err
	}
	if g.stagingDataset, err = constant(named["config"], "DefaultStagingDataset"); err != nil {
		return nil, err
	}
	days, err := constant(named["config"], "DefaultStagingExpirationDays")
	if err != nil {
		return nil, err
	}
	if g.stagingExpiryDays, err = strconv.Atoi(days); err != nil {
		return nil, fmt.Errorf("config.DefaultStagingExpirationDays: %v", err)
	}
	if g.treePrefix, err = constant(named["treestore"], "TreePrefix"); err != nil {
		return nil, err
	}
	if g.manifestObject, err = constant(named["treestore"], "ManifestObject"); err != nil {
		return nil, err
	}
	if g.storageFinalizedType, err = constant(named["eventdata"], "TypeStorageFinalized"); err != nil {
		return nil, err
	}
	if g.pubsubPublishedType, err = constant(named["eventdata"], "TypePubSubPublished"); err != nil {
		return nil, err
	}
	if g.maxDeliveries, err = maxDeliveriesDefault(named["pipeline"]); err != nil {
		return nil, err
	}
	if err := g.readLogLabelKeys(named["logging"]); err != nil {
		return nil, err
	}

	// Components: every package under functions/ and jobs/, and what they
	// import from the module (what is deployed).
	var components []string
	for _, parent := range []string{"functions", "jobs"} {
		entries, err := os.ReadDir(filepath.Join(root, parent))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				components = append(components, parent+"/"+e.Name())
			}
		}
	}
	deployed := map[string]bool{}
	for _, dir := range components {
		p, err := load(dir)
		if err != nil {
			return nil, err
		}
		g.readComponent(p, named)
		closure := map[string]bool{}
		queue := append([]string(nil), p.deps...)
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			if closure[d] {
				continue
			}
			closure[d] = true
			dp, err := load(d)
			if err != nil {
				return nil, err
			}
			queue = append(queue, dp.deps...)
		}
		for _, d := range sortedKeys(closure) {
			deployed[d] = true
			if strings.HasPrefix(d, "shared/") {
				g.reads[dir] = append(g.reads[dir], pkgs[d].envReads(named, false)...)
			}
		}
		deployed[dir] = true
	}
	for _, d := range sortedKeys(deployed) {
		pkgs[d].logCalls(g.logs, named)
	}

	return g, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func constant(p *goPackage, name string) (string, error) {
	v, ok := p.consts[name]
	if !ok {
		return "", fmt.Errorf("%s: constant %s not found", p.dir, name)
	}
	return v, nil
}

// readCloudenv reads the Var* constants, the XxxNeeds requirement lists and
// the Defaults composite literal.
func (g *goFacts) readCloudenv(p *goPackage) error {
	for name, v := range p.consts {
		if strings.HasPrefix(name, "Var") {
			g.cloudenvVars[name] = v
		}
	}
	for _, f := range p.sortedFiles() {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					cl, ok := vs.Values[i].(*ast.CompositeLit)
					if !ok {
						continue
					}
					switch {
					case strings.HasSuffix(n.Name, "Needs"):
						for _, el := range cl.Elts {
							id, ok := el.(*ast.Ident)
							if !ok || g.cloudenvVars[id.Name] == "" {
								return fmt.Errorf("%s: %s lists %s, which is not a cloudenv Var constant", p.pos(el), n.Name, exprString(el))
							}
							g.requirements[n.Name] = append(g.requirements[n.Name], g.cloudenvVars[id.Name])
						}
					case n.Name == "Defaults":
						for _, el := range cl.Elts {
							kv, ok := el.(*ast.KeyValueExpr)
							if !ok {
								continue
							}
							if v, ok := literal(kv.Value); ok {
								g.defaults[exprString(kv.Key)] = v
							}
						}
					}
				}
			}
		}
	}
	if len(g.requirements) == 0 || len(g.defaults) == 0 {
		return fmt.Errorf("%s: found no XxxNeeds lists or no Defaults", p.dir)
	}
	return nil
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.BasicLit:
		return x.Value
	}
	return fmt.Sprintf("%T", e)
}

// maxDeliveriesDefault finds `o.MaxDeliveries = N` (the default applied to
// pipeline Options).
func maxDeliveriesDefault(p *goPackage) (int, error) {
	found := -1
	for _, f := range p.sortedFiles() {
		ast.Inspect(f, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
				return true
			}
			if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "MaxDeliveries" {
				if v, ok := literal(as.Rhs[0]); ok {
					found, _ = strconv.Atoi(v)
				}
			}
			return true
		})
	}
	if found < 1 {
		return 0, fmt.Errorf("%s: no default assignment to Options.MaxDeliveries", p.dir)
	}
	return found, nil
}

// readLogLabelKeys reads logging.LabelKeys: fields that are also entry labels.
func (g *goFacts) readLogLabelKeys(p *goPackage) error {
	for _, f := range p.sortedFiles() {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "LabelKeys" || len(vs.Values) != 1 {
				return true
			}
			if cl, ok := vs.Values[0].(*ast.CompositeLit); ok {
				for _, el := range cl.Elts {
					if s, ok := p.stringValue(el, nil); ok {
						g.logLabelKeys[s] = true
					}
				}
			}
			return false
		})
	}
	if len(g.logLabelKeys) == 0 {
		return fmt.Errorf("%s: LabelKeys not found", p.dir)
	}
	return nil
}

// readComponent reads one function or job package.
func (g *goFacts) readComponent(p *goPackage, named map[string]*goPackage) {
	g.reads[p.dir] = p.envReads(named, true)
	for _, f := range p.sortedFiles() {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				switch {
				case isSelector(x.Fun, "functions", "CloudEvent") && len(x.Args) == 2:
					if name, ok := p.stringValue(x.Args[0], named); ok {
						g.entryPoints[name] = p.dir
					}
				case isSelector(x.Fun, "cloudenv", "FromEnv") && len(x.Args) == 2:
					if sel, ok := x.Args[1].(*ast.SelectorExpr); ok {
						g.needs[p.dir] = sel.Sel.Name
					}
				case isSelector(x.Fun, "gcp", "FromEnv") && len(x.Args) == 6:
					// gcp.FromEnv(ctx, lookup, need, stdout, component, opts)
					// reads need through cloudenv.FromEnv and calls gcp.New.
					if sel, ok := x.Args[2].(*ast.SelectorExpr); ok {
						g.needs[p.dir] = sel.Sel.Name
					}
					g.usesCloud[p.dir] = true
					if lit, ok := x.Args[5].(*ast.CompositeLit); ok {
						g.readOptions(lit, p.dir)
					}
				case isSelector(x.Fun, "gcp", "New"):
					g.usesCloud[p.dir] = true
				}
			case *ast.CompositeLit:
				g.readOptions(x, p.dir)
			}
			return true
		})
	}
}

// readOptions notes a gcp.Options literal that turns the job launcher on.
func (g *goFacts) readOptions(x *ast.CompositeLit, dir string) {
	if !isSelector(x.Type, "gcp", "Options") {
		return
	}
	for _, el := range x.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok && exprString(kv.Key) == "Launcher" && exprString(kv.Value) == "true" {
			g.launches[dir] = true
		}
	}
}

// componentEnv is what a component (a directory under functions/ or jobs/)
// reads: the variables of the requirement list it passes to cloudenv.FromEnv
// and every variable it, or a package of the module it imports, reads by
// constant name, less those Cloud Run sets. Each maps to where the code
// reads it.
func (g *goFacts) componentEnv(dir string) map[string]string {
	out := map[string]string{}
	if req := g.needs[dir]; req != "" {
		for _, v := range g.requirements[req] {
			out[v] = "cloudenv." + req
		}
	}
	for _, r := range g.reads[dir] {
		if !platformSet(r.name) {
			if _, ok := out[r.name]; !ok {
				out[r.name] = r.at
			}
		}
	}
	return out
}

// knownEnv is every variable some deployed code reads: cloudenv.FromEnv
// reads all the Var constants, plus the constant-name reads.
func (g *goFacts) knownEnv() map[string]bool {
	out := map[string]bool{}
	for _, v := range g.cloudenvVars {
		out[v] = true
	}
	for _, rs := range g.reads {
		for _, r := range rs {
			out[r.name] = true
		}
	}
	return out
}
