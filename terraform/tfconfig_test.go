package terraform_test

// A small, offline reader of this terraform tree: every .tf file parsed with
// hclsyntax, modules followed through their ./modules/ sources, and
// expressions evaluated with cty as terraform would before apply. Root
// variables take their values from an environment's tfvars (or their
// defaults); what only exists after apply (a service's uri, a service
// account's email, a variable left to the command line) evaluates to a
// placeholder string "${<address>.<attribute>}", so two references to the
// same thing compare equal and the tests can tell what a reference points
// to.

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// tfModule is one directory of .tf files.
type tfModule struct {
	dir       string // relative to terraform/
	files     []string
	variables map[string]*tfVariable
	locals    map[string]*hclsyntax.Attribute
	outputs   map[string]*hclsyntax.Block
	resources map[string]*tfResource // "type.name", and "data.type.name" for data sources
	calls     map[string]*tfCall
	terraform []*hclsyntax.Block // terraform {} blocks
	blocks    []*hclsyntax.Block // every top-level block, for reference checks
}

type tfVariable struct {
	name     string
	block    *hclsyntax.Block
	typ      cty.Type
	defaults *typeexpr.Defaults
	def      hcl.Expression // nil without a default
}

type tfResource struct {
	mode, typ, name string // mode is "managed" or "data"
	block           *hclsyntax.Block
}

func (r *tfResource) key() string {
	if r.mode == "data" {
		return "data." + r.typ + "." + r.name
	}
	return r.typ + "." + r.name
}

type tfCall struct {
	name   string
	block  *hclsyntax.Block
	source string
	module *tfModule
}

// metaArguments of module calls and resources, which are not inputs.
var metaArguments = map[string]bool{"source": true, "version": true, "count": true, "for_each": true, "depends_on": true, "providers": true, "provider": true, "lifecycle": true}

// loadModule parses dir (relative to base) and, through module calls with a
// local source, every module it uses.
func loadModule(base, dir string, cache map[string]*tfModule) (*tfModule, error) {
	dir = filepath.ToSlash(filepath.Clean(dir))
	if m := cache[dir]; m != nil {
		return m, nil
	}
	m := &tfModule{
		dir:       dir,
		variables: map[string]*tfVariable{},
		locals:    map[string]*hclsyntax.Attribute{},
		outputs:   map[string]*hclsyntax.Block{},
		resources: map[string]*tfResource{},
		calls:     map[string]*tfCall{},
	}
	cache[dir] = m
	paths, err := filepath.Glob(filepath.Join(base, filepath.FromSlash(dir), "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	sort.Strings(paths)
	parser := hclparse.NewParser()
	for _, path := range paths {
		f, diags := parser.ParseHCLFile(path)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		rel, _ := filepath.Rel(base, path)
		m.files = append(m.files, filepath.ToSlash(rel))
		body := f.Body.(*hclsyntax.Body)
		if len(body.Attributes) > 0 {
			for _, a := range body.Attributes {
				return nil, fmt.Errorf("%s: unexpected top-level attribute %s", a.SrcRange, a.Name)
			}
		}
		for _, b := range body.Blocks {
			m.blocks = append(m.blocks, b)
			if err := m.addBlock(base, b, cache); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *tfModule) addBlock(base string, b *hclsyntax.Block, cache map[string]*tfModule) error {
	dup := func(kind, name string) error {
		return fmt.Errorf("%s: duplicate %s %q", b.DefRange(), kind, name)
	}
	switch b.Type {
	case "terraform":
		m.terraform = append(m.terraform, b)
	case "provider":
	case "variable":
		v := &tfVariable{name: b.Labels[0], block: b, typ: cty.DynamicPseudoType}
		if _, ok := m.variables[v.name]; ok {
			return dup("variable", v.name)
		}
		if a := b.Body.Attributes["type"]; a != nil {
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			if diags.HasErrors() {
				return fmt.Errorf("%s", diags.Error())
			}
			v.typ, v.defaults = ty, defaults
		}
		if a := b.Body.Attributes["default"]; a != nil {
			v.def = a.Expr
		}
		m.variables[v.name] = v
	case "locals":
		for name, a := range b.Body.Attributes {
			if _, ok := m.locals[name]; ok {
				return dup("local", name)
			}
			m.locals[name] = a
		}
	case "output":
		if _, ok := m.outputs[b.Labels[0]]; ok {
			return dup("output", b.Labels[0])
		}
		m.outputs[b.Labels[0]] = b
	case "resource", "data":
		mode := "managed"
		if b.Type == "data" {
			mode = "data"
		}
		r := &tfResource{mode: mode, typ: b.Labels[0], name: b.Labels[1], block: b}
		if _, ok := m.resources[r.key()]; ok {
			return dup(b.Type, r.key())
		}
		m.resources[r.key()] = r
	case "module":
		c := &tfCall{name: b.Labels[0], block: b}
		src := b.Body.Attributes["source"]
		if src == nil {
			return fmt.Errorf("%s: module %s has no source", b.DefRange(), c.name)
		}
		v, diags := src.Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String {
			return fmt.Errorf("%s: module source must be a literal string", src.SrcRange)
		}
		c.source = v.AsString()
		if !strings.HasPrefix(c.source, "./") && !strings.HasPrefix(c.source, "../") {
			return fmt.Errorf("%s: module %s: only local sources are expected here, got %q", src.SrcRange, c.name, c.source)
		}
		child, err := loadModule(base, filepath.Join(m.dir, c.source), cache)
		if err != nil {
			return fmt.Errorf("module %s: %w", c.name, err)
		}
		c.module = child
		if _, ok := m.calls[c.name]; ok {
			return dup("module", c.name)
		}
		m.calls[c.name] = c
	default:
		return fmt.Errorf("%s: unexpected block %s", b.DefRange(), b.Type)
	}
	return nil
}

// tfScope is a module instance: the root, or a module call with its
// arguments evaluated in the caller.
type tfScope struct {
	mod      *tfModule
	addr     string // "" or "module.name."
	parent   *tfScope
	call     *tfCall
	rootVars map[string]cty.Value // root only: values from tfvars and -var

	vars     map[string]cty.Value
	locals   map[string]cty.Value
	children map[string]*tfScope
	busy     map[string]bool
}

func newRootScope(m *tfModule, values map[string]cty.Value) *tfScope {
	return &tfScope{mod: m, rootVars: values, vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, children: map[string]*tfScope{}, busy: map[string]bool{}}
}

// child is the instance of module call name.
func (s *tfScope) child(name string) (*tfScope, error) {
	if c := s.children[name]; c != nil {
		return c, nil
	}
	call := s.mod.calls[name]
	if call == nil {
		return nil, fmt.Errorf("%sno module %q", s.addr, name)
	}
	c := &tfScope{mod: call.module, addr: s.addr + "module." + name + ".", parent: s, call: call,
		vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, children: map[string]*tfScope{}, busy: map[string]bool{}}
	s.children[name] = c
	return c, nil
}

// all is this scope and every module instance below it.
func (s *tfScope) all() ([]*tfScope, error) {
	out := []*tfScope{s}
	for _, name := range sortedKeys(s.mod.calls) {
		c, err := s.child(name)
		if err != nil {
			return nil, err
		}
		sub, err := c.all()
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func placeholder(ref string) cty.Value { return cty.StringVal("${" + ref + "}") }

var placeholderRE = regexp.MustCompile(`^\$\{([^{}]+)\.([a-z_]+)\}$`)

// refersTo splits a placeholder into the address and attribute it stands
// for.
func refersTo(v string) (addr, attr string, ok bool) {
	m := placeholderRE.FindStringSubmatch(v)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func (s *tfScope) guard(key string) (func(), error) {
	if s.busy[key] {
		return nil, fmt.Errorf("%s%s refers to itself", s.addr, key)
	}
	s.busy[key] = true
	return func() { delete(s.busy, key) }, nil
}

func (s *tfScope) variable(name string) (cty.Value, error) {
	if v, ok := s.vars[name]; ok {
		return v, nil
	}
	decl := s.mod.variables[name]
	if decl == nil {
		return cty.NilVal, fmt.Errorf("%s: var.%s is not declared", s.mod.dir, name)
	}
	done, err := s.guard("var." + name)
	if err != nil {
		return cty.NilVal, err
	}
	defer done()
	var v cty.Value
	switch {
	case s.parent != nil && s.call.block.Body.Attributes[name] != nil:
		v, err = s.parent.eval(s.call.block.Body.Attributes[name].Expr, nil)
		if err != nil {
			return cty.NilVal, fmt.Errorf("module.%s argument %s: %w", s.call.name, name, err)
		}
	case s.parent == nil && hasKey(s.rootVars, name):
		v = s.rootVars[name]
	case decl.def != nil:
		var diags hcl.Diagnostics
		v, diags = decl.def.Value(nil)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("%s", diags.Error())
		}
	case s.parent == nil:
		// Given on the command line (cloudbuild.yaml's -var).
		if decl.typ == cty.String || decl.typ == cty.DynamicPseudoType {
			v = placeholder("var." + name)
		} else {
			v = cty.UnknownVal(decl.typ)
		}
	default:
		return cty.NilVal, fmt.Errorf("%s: module.%s does not set required variable %s", s.call.block.DefRange(), s.call.name, name)
	}
	if decl.defaults != nil {
		v = decl.defaults.Apply(v)
	}
	if decl.typ != cty.DynamicPseudoType {
		cv, err := convert.Convert(v, decl.typ)
		if err != nil {
			return cty.NilVal, fmt.Errorf("%svar.%s: %v", s.addr, name, err)
		}
		v = cv
	}
	s.vars[name] = v
	return v, nil
}

func (s *tfScope) local(name string) (cty.Value, error) {
	if v, ok := s.locals[name]; ok {
		return v, nil
	}
	a := s.mod.locals[name]
	if a == nil {
		return cty.NilVal, fmt.Errorf("%s: local.%s is not declared", s.mod.dir, name)
	}
	done, err := s.guard("local." + name)
	if err != nil {
		return cty.NilVal, err
	}
	defer done()
	v, err := s.eval(a.Expr, nil)
	if err != nil {
		return cty.NilVal, fmt.Errorf("local.%s: %w", name, err)
	}
	s.locals[name] = v
	return v, nil
}

func (s *tfScope) output(name string) (cty.Value, error) {
	b := s.mod.outputs[name]
	if b == nil {
		return cty.NilVal, fmt.Errorf("%s: output %s is not declared", s.mod.dir, name)
	}
	a := b.Body.Attributes["value"]
	if a == nil {
		return cty.NilVal, fmt.Errorf("%s: output %s has no value", b.DefRange(), name)
	}
	return s.eval(a.Expr, nil)
}

// resourceAttr is what a reference to a resource's (or data source's)
// attribute evaluates to: the configured value where the configuration sets
// it as an argument, else a placeholder.
func (s *tfScope) resourceAttr(key, attr string) (cty.Value, error) {
	r := s.mod.resources[key]
	if r == nil {
		return cty.NilVal, fmt.Errorf("%s: %s is not declared", s.mod.dir, key)
	}
	ref := s.addr + key + "." + attr
	if r.block.Body.Attributes["for_each"] != nil || r.block.Body.Attributes["count"] != nil {
		return placeholder(ref), nil
	}
	a := r.block.Body.Attributes[attr]
	if a == nil || metaArguments[attr] {
		return placeholder(ref), nil
	}
	done, err := s.guard(ref)
	if err != nil {
		return cty.NilVal, err
	}
	defer done()
	return s.eval(a.Expr, nil)
}

func base64Encode() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
		},
	})
}

// functions are the terraform functions this tree uses in evaluated
// expressions.
var functions = map[string]function.Function{
	"base64encode": base64Encode(),
	"coalesce":     stdlib.CoalesceFunc,
	"concat":       stdlib.ConcatFunc,
	"contains":     stdlib.ContainsFunc,
	"distinct":     stdlib.DistinctFunc,
	"element":      stdlib.ElementFunc,
	"format":       stdlib.FormatFunc,
	"join":         stdlib.JoinFunc,
	"jsonencode":   stdlib.JSONEncodeFunc,
	"keys":         stdlib.KeysFunc,
	"length":       stdlib.LengthFunc,
	"lower":        stdlib.LowerFunc,
	"merge":        stdlib.MergeFunc,
	"split":        stdlib.SplitFunc,
	"tolist":       stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"toset":        stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":     stdlib.MakeToFunc(cty.String),
	"upper":        stdlib.UpperFunc,
}

// eval evaluates expr in the scope; iter holds iteration symbols (each,
// count, a dynamic block's iterator).
func (s *tfScope) eval(expr hcl.Expression, iter map[string]cty.Value) (cty.Value, error) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: functions}
	tree := map[string]any{} // nested names -> cty.Value, turned into objects below
	set := func(v cty.Value, path ...string) {
		m := tree
		for _, p := range path[:len(path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[path[len(path)-1]] = v
	}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		names := []string{root}
		for _, step := range tr[1:] {
			a, ok := step.(hcl.TraverseAttr)
			if !ok {
				break
			}
			names = append(names, a.Name)
		}
		if v, ok := iter[root]; ok {
			ctx.Variables[root] = v
			continue
		}
		need := func(n int) error {
			if len(names) < n {
				return fmt.Errorf("%s: reference %s is too short to evaluate here", tr.SourceRange(), strings.Join(names, "."))
			}
			return nil
		}
		var v cty.Value
		var err error
		switch root {
		case "var":
			if err = need(2); err == nil {
				v, err = s.variable(names[1])
				set(v, names[:2]...)
			}
		case "local":
			if err = need(2); err == nil {
				v, err = s.local(names[1])
				set(v, names[:2]...)
			}
		case "module":
			if err = need(3); err == nil {
				var c *tfScope
				if c, err = s.child(names[1]); err == nil {
					v, err = c.output(names[2])
					set(v, names[:3]...)
				}
			}
		case "data":
			if err = need(4); err == nil {
				v, err = s.resourceAttr("data."+names[1]+"."+names[2], names[3])
				set(v, names[:4]...)
			}
		case "each", "count", "path", "terraform", "self":
			err = fmt.Errorf("%s: %s is not available here", tr.SourceRange(), root)
		default:
			if err = need(3); err == nil {
				v, err = s.resourceAttr(names[0]+"."+names[1], names[2])
				set(v, names[:3]...)
			}
		}
		if err != nil {
			return cty.NilVal, err
		}
	}
	var build func(m map[string]any) cty.Value
	build = func(m map[string]any) cty.Value {
		attrs := map[string]cty.Value{}
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				attrs[k] = build(sub)
			} else {
				attrs[k] = v.(cty.Value)
			}
		}
		return cty.ObjectVal(attrs)
	}
	for k, v := range tree {
		ctx.Variables[k] = build(v.(map[string]any))
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s", diags.Error())
	}
	return v, nil
}

// tfInstance is one instance of a resource (one per for_each element).
type tfInstance struct {
	scope *tfScope
	res   *tfResource
	addr  string
	iter  map[string]cty.Value
}

// instances expands the resource's for_each or count.
func (s *tfScope) instances(r *tfResource) ([]*tfInstance, error) {
	base := s.addr + r.key()
	body := r.block.Body
	switch {
	case body.Attributes["for_each"] != nil:
		coll, err := s.eval(body.Attributes["for_each"].Expr, nil)
		if err != nil {
			return nil, fmt.Errorf("%s for_each: %w", base, err)
		}
		if !coll.IsWhollyKnown() {
			return nil, fmt.Errorf("%s: for_each is not known before apply", base)
		}
		var out []*tfInstance
		for it := coll.ElementIterator(); it.Next(); {
			k, v := it.Element()
			if coll.Type().IsSetType() {
				k = v
			}
			each := cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})
			out = append(out, &tfInstance{scope: s, res: r, addr: fmt.Sprintf("%s[%q]", base, k.AsString()), iter: map[string]cty.Value{"each": each}})
		}
		return out, nil
	case body.Attributes["count"] != nil:
		n, err := s.eval(body.Attributes["count"].Expr, nil)
		if err != nil {
			return nil, fmt.Errorf("%s count: %w", base, err)
		}
		var count int
		if err := gocty(n, &count); err != nil {
			return nil, fmt.Errorf("%s count: %w", base, err)
		}
		var out []*tfInstance
		for i := 0; i < count; i++ {
			idx := cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})
			out = append(out, &tfInstance{scope: s, res: r, addr: fmt.Sprintf("%s[%d]", base, i), iter: map[string]cty.Value{"count": idx}})
		}
		return out, nil
	}
	return []*tfInstance{{scope: s, res: r, addr: base, iter: map[string]cty.Value{}}}, nil
}

func gocty(v cty.Value, n *int) error {
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		return fmt.Errorf("want a known number, got %#v", v)
	}
	bf := v.AsBigFloat()
	i, _ := bf.Int64()
	*n = int(i)
	return nil
}

// tfBlock is a nested block of an instance, with the iteration symbols of
// the dynamic blocks it came from.
type tfBlock struct {
	inst *tfInstance
	body *hclsyntax.Body
	iter map[string]cty.Value
}

func (i *tfInstance) root() *tfBlock {
	return &tfBlock{inst: i, body: i.res.block.Body, iter: i.iter}
}

// blocks are the nested blocks of type typ, static or generated by dynamic
// blocks.
func (b *tfBlock) blocks(typ string) ([]*tfBlock, error) {
	var out []*tfBlock
	for _, nb := range b.body.Blocks {
		switch {
		case nb.Type == typ:
			out = append(out, &tfBlock{inst: b.inst, body: nb.Body, iter: b.iter})
		case nb.Type == "dynamic" && nb.Labels[0] == typ:
			name := typ
			if a := nb.Body.Attributes["iterator"]; a != nil {
				name = hcl.ExprAsKeyword(a.Expr)
			}
			fe := nb.Body.Attributes["for_each"]
			if fe == nil {
				return nil, fmt.Errorf("%s: dynamic block without for_each", nb.DefRange())
			}
			coll, err := b.inst.scope.eval(fe.Expr, b.iter)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", nb.DefRange(), err)
			}
			var content *hclsyntax.Body
			for _, cb := range nb.Body.Blocks {
				if cb.Type == "content" {
					content = cb.Body
				}
			}
			if content == nil {
				return nil, fmt.Errorf("%s: dynamic block without content", nb.DefRange())
			}
			for it := coll.ElementIterator(); it.Next(); {
				k, v := it.Element()
				iter := map[string]cty.Value{}
				for n, val := range b.iter {
					iter[n] = val
				}
				iter[name] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})
				out = append(out, &tfBlock{inst: b.inst, body: content, iter: iter})
			}
		}
	}
	return out, nil
}

// block is the single nested block at path (nil when absent).
func (b *tfBlock) block(path ...string) (*tfBlock, error) {
	cur := b
	for _, p := range path {
		bs, err := cur.blocks(p)
		if err != nil {
			return nil, err
		}
		switch len(bs) {
		case 0:
			return nil, nil
		case 1:
			cur = bs[0]
		default:
			return nil, fmt.Errorf("%s: %d %s blocks, want one", b.inst.addr, len(bs), p)
		}
	}
	return cur, nil
}

func (b *tfBlock) has(name string) bool { return b.body.Attributes[name] != nil }

// value evaluates argument name (cty.NilVal when absent).
func (b *tfBlock) value(name string) (cty.Value, error) {
	a := b.body.Attributes[name]
	if a == nil {
		return cty.NilVal, nil
	}
	v, err := b.inst.scope.eval(a.Expr, b.iter)
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s.%s: %w", b.inst.addr, name, err)
	}
	return v, nil
}

// str evaluates a string argument ("" when absent or null).
func (b *tfBlock) str(name string) (string, error) {
	v, err := b.value(name)
	if err != nil || v == cty.NilVal || v.IsNull() {
		return "", err
	}
	if !v.IsKnown() {
		return "", fmt.Errorf("%s.%s is not known before apply", b.inst.addr, name)
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", fmt.Errorf("%s.%s: %v", b.inst.addr, name, err)
	}
	return sv.AsString(), nil
}

// num evaluates a number argument; ok is false when absent.
func (b *tfBlock) num(name string) (int, bool, error) {
	v, err := b.value(name)
	if err != nil || v == cty.NilVal || v.IsNull() {
		return 0, false, err
	}
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, false, fmt.Errorf("%s.%s: %v", b.inst.addr, name, err)
	}
	var n int
	if err := gocty(nv, &n); err != nil {
		return 0, false, fmt.Errorf("%s.%s: %v", b.inst.addr, name, err)
	}
	return n, true, nil
}

// strings evaluates a list or set of strings.
func (b *tfBlock) strings(name string) ([]string, error) {
	v, err := b.value(name)
	if err != nil || v == cty.NilVal || v.IsNull() {
		return nil, err
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		sv, err := convert.Convert(e, cty.String)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", b.inst.addr, name, err)
		}
		out = append(out, sv.AsString())
	}
	return out, nil
}

// tfConfig is the whole tree under terraform/.
type tfConfig struct {
	base string // the terraform/ directory
	root *tfModule
	mods map[string]*tfModule
}

func loadConfig(t *testing.T) *tfConfig {
	t.Helper()
	base := filepath.Join(repoRoot(t), "terraform")
	mods := map[string]*tfModule{}
	root, err := loadModule(base, ".", mods)
	if err != nil {
		t.Fatalf("loading terraform/: %v", err)
	}
	return &tfConfig{base: base, root: root, mods: mods}
}

// readTFVars reads an environments/*.tfvars file; values must be literals.
func readTFVars(path string) (map[string]cty.Value, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	out := map[string]cty.Value{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diags.Error())
		}
		out[name] = v
	}
	return out, nil
}

// environment is the root module evaluated with one tfvars file.
type environment struct {
	name  string
	cfg   *tfConfig
	root  *tfScope
	insts map[string][]*tfInstance // resource type -> every instance in every module
}

func loadEnvironment(t *testing.T, cfg *tfConfig, name string) *environment {
	t.Helper()
	vals, err := readTFVars(filepath.Join(cfg.base, "environments", name+".tfvars"))
	if err != nil {
		t.Fatalf("environments/%s.tfvars: %v", name, err)
	}
	for k := range vals {
		if cfg.root.variables[k] == nil {
			t.Fatalf("environments/%s.tfvars sets %s, which terraform/variables.tf does not declare", name, k)
		}
	}
	e := &environment{name: name, cfg: cfg, root: newRootScope(cfg.root, vals), insts: map[string][]*tfInstance{}}
	scopes, err := e.root.all()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scopes {
		for _, key := range sortedKeys(s.mod.resources) {
			r := s.mod.resources[key]
			if r.mode != "managed" {
				continue
			}
			is, err := s.instances(r)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			e.insts[r.typ] = append(e.insts[r.typ], is...)
		}
	}
	return e
}

// rootValue evaluates a root variable.
func (e *environment) rootVar(t *testing.T, name string) cty.Value {
	t.Helper()
	v, err := e.root.variable(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *environment) rootString(t *testing.T, name string) string {
	t.Helper()
	v := e.rootVar(t, name)
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		t.Fatalf("var.%s is not a known string in %s", name, e.name)
	}
	return v.AsString()
}

func (e *environment) rootStrings(t *testing.T, name string) []string {
	t.Helper()
	v := e.rootVar(t, name)
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, el := it.Element()
		out = append(out, el.AsString())
	}
	return out
}

func (e *environment) rootOutput(t *testing.T, name string) cty.Value {
	t.Helper()
	v, err := e.root.output(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// byAddr finds the instance at an address (as placeholders spell it).
func (e *environment) byAddr(addr string) *tfInstance {
	for _, is := range e.insts {
		for _, i := range is {
			if i.addr == addr {
				return i
			}
		}
	}
	return nil
}
