package terraform_test

// What the Go code says about its deployment, imported from the packages
// that own each fact (the code uses the same exported names, so the fact and
// the code cannot drift): the function entry points, the environment each
// component reads, resource-name defaults, the pipeline's delivery limit,
// the staging dataset, the tree layout, CloudEvent types, log label keys and
// the log messages terraform's metrics select.
//
// One piece is still read from source (logCalls): which fields the calls
// that log a metric's message carry, and whether a value is a number. Those
// are properties of call expressions, not values a test can import.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bqbackfill/bqbackfill/functions/completion"
	"github.com/bqbackfill/bqbackfill/functions/notifier"
	"github.com/bqbackfill/bqbackfill/functions/scanner"
	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

// componentFact is what a deployed component (a directory under functions/
// or jobs/) needs from terraform.
type componentFact struct {
	dir        string
	entryPoint string // FUNCTION_TARGET; "" for the worker job
	// env are the variables it reads besides Cloud Run's, each with the
	// exported name that lists it.
	env map[string]cloudenv.Requirement
}

// deployedComponents are every package under functions/ and jobs/ (a check
// in loadGoFacts holds the list to the directories). jobs/worker is a main
// package: its variables are exported by cloudenv.
var deployedComponents = []componentFact{
	{dir: "functions/scanner", entryPoint: scanner.EntryPoint, env: map[string]cloudenv.Requirement{"scanner.Needs": scanner.Needs}},
	{dir: "functions/completion", entryPoint: completion.EntryPoint, env: map[string]cloudenv.Requirement{"completion.Needs": completion.Needs}},
	{dir: "functions/notifier", entryPoint: notifier.EntryPoint, env: map[string]cloudenv.Requirement{"notifier.Needs": notifier.Needs}},
	// The functions image's main reads only PORT, which Cloud Run sets.
	{dir: "functions/server"},
	{dir: "jobs/worker", env: map[string]cloudenv.Requirement{"cloudenv.WorkerNeeds": cloudenv.WorkerNeeds, "cloudenv.WorkerReads": cloudenv.WorkerReads}},
}

// metricMessages are the log messages terraform's metrics may select.
var metricMessages = []string{pipeline.LogPartitionDone, pipeline.LogPartitionFailed, pipeline.LogBackfillFinished, pipeline.LogBackfillCompleted}

// envDefault is a cloudenv.Defaults field and the variable that overrides it.
type envDefault struct {
	field string // of cloudenv.Env
	name  string // variable
	value string // default
}

// goFacts is everything the checks need from the Go code.
type goFacts struct {
	// entryPoints maps each function's EntryPoint to its package directory.
	entryPoints map[string]string

	defaults []envDefault // the non-zero cloudenv.Defaults, by variable

	// Per component directory (functions/scanner, jobs/worker, ...).
	env       map[string]map[string]string // -> variable -> the exported name that lists it
	usesCloud map[string]bool              // -> builds the Google Cloud stack (imports shared/gcp)

	maxDeliveries        int
	stagingDataset       string
	stagingExpiryDays    int
	treePrefix           string
	manifestObject       string
	storageFinalizedType string
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
		t.Fatalf("reading the Go facts: %v", factsErr)
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
		entryPoints:          map[string]string{},
		env:                  map[string]map[string]string{},
		usesCloud:            map[string]bool{},
		maxDeliveries:        pipeline.DefaultMaxDeliveries,
		stagingDataset:       config.DefaultStagingDataset,
		stagingExpiryDays:    config.DefaultStagingExpirationDays,
		treePrefix:           treestore.TreePrefix,
		manifestObject:       treestore.ManifestObject,
		storageFinalizedType: eventdata.TypeStorageFinalized,
		logLabelKeys:         map[string]bool{},
		logs:                 map[string][]logCall{},
	}
	for _, k := range logging.LabelKeys {
		g.logLabelKeys[k] = true
	}
	var err error
	if g.defaults, err = cloudenvDefaults(); err != nil {
		return nil, err
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
	// Packages referred to by their import name in the selectors logCalls
	// resolves (messages and logged keys).
	named := map[string]*goPackage{}
	for name, dir := range map[string]string{"pipeline": "shared/pipeline", "logging": "shared/logging"} {
		p, err := load(dir)
		if err != nil {
			return nil, err
		}
		named[name] = p
	}

	// Every package under functions/ and jobs/ is a listed component.
	var dirs []string
	for _, parent := range []string{"functions", "jobs"} {
		entries, err := os.ReadDir(filepath.Join(root, parent))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, parent+"/"+e.Name())
			}
		}
	}
	var listed []string
	for _, c := range deployedComponents {
		listed = append(listed, c.dir)
		if c.entryPoint != "" {
			g.entryPoints[c.entryPoint] = c.dir
		}
		g.env[c.dir] = map[string]string{}
		for _, from := range sortedKeys(c.env) {
			for _, v := range c.env[from] {
				if _, ok := g.env[c.dir][v]; !ok {
					g.env[c.dir][v] = from
				}
			}
		}
	}
	slices.Sort(dirs)
	slices.Sort(listed)
	if !slices.Equal(dirs, listed) {
		return nil, fmt.Errorf("the components under functions/ and jobs/ are %v, deployedComponents lists %v", dirs, listed)
	}

	// What each component imports from the module is what is deployed.
	deployed := map[string]bool{}
	for _, dir := range dirs {
		p, err := load(dir)
		if err != nil {
			return nil, err
		}
		g.usesCloud[dir] = slices.Contains(p.deps, "shared/gcp")
		closure := map[string]bool{dir: true}
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
		for d := range closure {
			deployed[d] = true
		}
	}
	for _, d := range sortedKeys(deployed) {
		pkgs[d].logCalls(g.logs, named)
	}
	return g, nil
}

// cloudenvDefaults finds, for each variable cloudenv.FromEnv reads, the Env
// field it sets (by setting it alone) and that field's non-zero default.
func cloudenvDefaults() ([]envDefault, error) {
	base := reflect.ValueOf(cloudenv.Defaults)
	var out []envDefault
	for _, name := range cloudenv.Vars {
		e, err := cloudenv.FromEnv(func(n string) (string, bool) { return "7", n == name }, nil)
		if err != nil {
			return nil, fmt.Errorf("cloudenv.FromEnv with only %s=7: %v", name, err)
		}
		v := reflect.ValueOf(e)
		for i := range v.NumField() {
			if !v.Field(i).Equal(base.Field(i)) && !base.Field(i).IsZero() {
				out = append(out, envDefault{field: v.Type().Field(i).Name, name: name, value: fmt.Sprint(base.Field(i).Interface())})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cloudenv.Defaults: no variable overrides a default")
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// componentEnv is what a component (a directory under functions/ or jobs/)
// reads, less those Cloud Run sets, each mapped to the exported name that
// lists it.
func (g *goFacts) componentEnv(dir string) map[string]string {
	out := map[string]string{}
	for name, from := range g.env[dir] {
		if !platformSet(name) {
			out[name] = from
		}
	}
	return out
}

// knownEnv is every variable some deployed code reads: cloudenv.FromEnv
// reads all of cloudenv.Vars, plus each component's own.
func (g *goFacts) knownEnv() map[string]bool {
	out := map[string]bool{}
	for _, v := range cloudenv.Vars {
		out[v] = true
	}
	for _, env := range g.env {
		for name := range env {
			out[name] = true
		}
	}
	return out
}

// goPackage is the parsed non-test files of one directory: what logCalls
// reads, and the module packages it imports (what a component deploys).
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
	names := sortedKeys(p.files)
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
// Error on any logger; a literal or a constant such as
// pipeline.LogPartitionDone) to its call sites.
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
				if msg, ok := p.stringValue(c.Args[0], named); ok {
					into[msg] = append(into[msg], logCall{at: p.pos(c), fields: strs, args: p.callArgs(c, named)})
				}
				return true
			})
		}
	}
}
