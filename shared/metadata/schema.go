package metadata

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// SchemaFileName is the schema file in a table directory.
const SchemaFileName = "schema.yaml"

// Schema is a schema.yaml: an ordered list of fields. bigquery-etl lets a
// schema pull fields from another table or file with the tags
// !include-fields, !include-field, !include-field-description and
// !flatten-lists; such an item is kept as a Field with Include set until
// Resolve replaces it.
type Schema struct {
	Fields []Field
}

// Field is one column, or an include that Resolve expands.
type Field struct {
	Name        string
	Type        string
	Mode        string
	Description string
	Fields      []Field
	// Include is set when this item is an !include-field or !include-fields
	// rather than a literal column.
	Include *Include
	// DescriptionInclude is set when the description is an
	// !include-field-description; descriptions do not affect a table's
	// structure, so an unresolved one leaves Description empty.
	DescriptionInclude *Include
	Line               int
}

// IncludeKind names an include tag.
type IncludeKind string

// The include tags bigquery-etl's schema loader understands.
const (
	IncludeFields           IncludeKind = "!include-fields"
	IncludeField            IncludeKind = "!include-field"
	IncludeFieldDescription IncludeKind = "!include-field-description"
)

// Source names where an include reads from: another table's schema.yaml
// ("project.dataset.table") or a YAML file with a fields list, relative to
// the repository root.
type Source struct {
	Table string
	File  string
}

// String names the source for messages: "table p.d.t" or "file path".
func (s Source) String() string {
	if s.Table != "" {
		return "table " + s.Table
	}
	return "file " + s.File
}

// Include is one include item.
type Include struct {
	Kind   IncludeKind
	Source Source
	// Field is the dotted path of the included field (!include-field and
	// !include-field-description).
	Field string
	// ParentField takes the nested fields of this dotted path
	// (!include-fields).
	ParentField string
	// FieldNames keeps only these fields, in this order; ExcludeFieldNames
	// drops these (!include-fields).
	FieldNames        []string
	ExcludeFieldNames []string
	// FieldReplacements replace the included fields of the same name.
	FieldReplacements []Field
	// NewName, NewDescription, AppendDescription and NewFields adjust an
	// !include-field.
	NewName           string
	NewDescription    string
	AppendDescription string
	NewFields         []Field
	Line              int
}

// ParseSchema reads a schema.yaml. path is used in messages.
func ParseSchema(data []byte, path string) (*Schema, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ParseError{Path: path, Problems: []Problem{{Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	s := &Schema{}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return s, nil
	}
	root := deref(doc.Content[0])
	p := &parser{}
	if root.Kind != yaml.MappingNode {
		p.addf(root, "", "schema.yaml must be a mapping with a fields list")
		return nil, &ParseError{Path: path, Problems: p.problems}
	}
	forEach(root, func(k, v *yaml.Node) {
		if k.Value == "fields" {
			s.Fields = p.fieldList(v, "fields")
		}
	})
	if len(p.problems) > 0 {
		return nil, &ParseError{Path: path, Problems: p.problems}
	}
	return s, nil
}

// fieldList reads a list of fields: a sequence (possibly !flatten-lists
// with nested sequences), or a single include standing for a list.
func (p *parser) fieldList(n *yaml.Node, at string) []Field {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.MappingNode && (n.Tag == string(IncludeFields) || n.Tag == string(IncludeField)) {
		return []Field{{Include: p.include(n, at), Line: n.Line}}
	}
	if n.Kind != yaml.SequenceNode {
		p.addf(n, at, "must be a list of fields")
		return nil
	}
	var out []Field
	for _, item := range n.Content {
		item = deref(item)
		switch {
		case item.Kind == yaml.SequenceNode:
			out = append(out, p.fieldList(item, at)...)
		case item.Kind == yaml.MappingNode && (item.Tag == string(IncludeFields) || item.Tag == string(IncludeField)):
			out = append(out, Field{Include: p.include(item, at), Line: item.Line})
		case item.Kind == yaml.MappingNode:
			out = append(out, p.field(item, at))
		default:
			p.addf(item, at, "each field must be a mapping with name, type and mode")
		}
	}
	return out
}

func (p *parser) field(n *yaml.Node, at string) Field {
	f := Field{Line: n.Line}
	forEach(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			f.Name = p.str(v, at+".name")
		case "type":
			f.Type = strings.ToUpper(p.str(v, at+".type"))
		case "mode":
			f.Mode = strings.ToUpper(p.str(v, at+".mode"))
		case "description":
			if v.Kind == yaml.MappingNode && v.Tag == string(IncludeFieldDescription) {
				f.DescriptionInclude = p.include(v, at+".description")
				return
			}
			f.Description = p.str(v, at+".description")
		case "fields":
			f.Fields = p.fieldList(v, at+"."+f.Name+".fields")
		}
	})
	if f.Name == "" {
		p.addf(n, at, "a field has no name")
	}
	return f
}

func (p *parser) include(n *yaml.Node, at string) *Include {
	inc := &Include{Kind: IncludeKind(n.Tag), Line: n.Line}
	forEach(n, func(k, v *yaml.Node) {
		field := at + "." + k.Value
		switch k.Value {
		case "table":
			inc.Source.Table = p.str(v, field)
		case "file":
			inc.Source.File = p.str(v, field)
		case "field":
			inc.Field = p.str(v, field)
		case "parent_field":
			inc.ParentField = p.str(v, field)
		case "field_names":
			inc.FieldNames = p.strOrList(v, field)
		case "exclude_field_names":
			inc.ExcludeFieldNames = p.strOrList(v, field)
		case "field_replacements":
			inc.FieldReplacements = p.fieldList(v, field)
		case "new_name":
			inc.NewName = p.str(v, field)
		case "new_description":
			inc.NewDescription = p.str(v, field)
		case "append_description":
			inc.AppendDescription = p.str(v, field)
		case "new_fields":
			inc.NewFields = p.fieldList(v, field)
		}
	})
	if inc.Source.Table == "" && inc.Source.File == "" {
		p.addf(n, at, "%s needs a table or a file to include from", inc.Kind)
	}
	return inc
}

// strOrList reads a list of strings, or one string as a list of one.
func (p *parser) strOrList(n *yaml.Node, field string) []string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{n.Value}
	}
	return p.strList(n, field)
}

// Unresolved lists the includes (of fields, not descriptions) left in s.
func (s *Schema) Unresolved() []Include {
	var out []Include
	var walk func([]Field)
	walk = func(fs []Field) {
		for _, f := range fs {
			if f.Include != nil {
				out = append(out, *f.Include)
				continue
			}
			walk(f.Fields)
		}
	}
	walk(s.Fields)
	return out
}

// Loader returns the schema an include reads from.
type Loader func(src Source) (*Schema, error)

// maxIncludeDepth bounds include chains (and breaks include cycles).
const maxIncludeDepth = 16

// Resolve returns a copy of s with every include expanded through load.
// Description includes are expanded when load can read their source and
// left empty otherwise; field includes that cannot be read are an error.
func (s *Schema) Resolve(load Loader) (*Schema, error) {
	r := &resolver{load: load, cache: map[Source]*Schema{}}
	fields, err := r.fields(s.Fields, 0)
	if err != nil {
		return nil, err
	}
	return &Schema{Fields: fields}, nil
}

type resolver struct {
	load  Loader
	cache map[Source]*Schema
}

func (r *resolver) source(src Source, depth int) (*Schema, error) {
	if s, ok := r.cache[src]; ok {
		return s, nil
	}
	s, err := r.load(src)
	if err != nil {
		return nil, fmt.Errorf("include from %s: %w", src, err)
	}
	resolved, err := (&resolver{load: r.load, cache: r.cache}).fields(s.Fields, depth+1)
	if err != nil {
		return nil, fmt.Errorf("include from %s: %w", src, err)
	}
	out := &Schema{Fields: resolved}
	r.cache[src] = out
	return out, nil
}

func (r *resolver) fields(in []Field, depth int) ([]Field, error) {
	if depth > maxIncludeDepth {
		return nil, errors.New("includes nested too deeply (a cycle?)")
	}
	var out []Field
	for _, f := range in {
		if f.Include == nil {
			g, err := r.field(f, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
			continue
		}
		got, err := r.include(f.Include, depth)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", f.Include.Line, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (r *resolver) field(f Field, depth int) (Field, error) {
	g := f
	if f.DescriptionInclude != nil && f.Description == "" {
		if src, err := r.source(f.DescriptionInclude.Source, depth); err == nil {
			if d, ok := find(src.Fields, f.DescriptionInclude.Field); ok {
				g.Description = d.Description
			}
		}
	}
	g.DescriptionInclude = nil
	if len(f.Fields) > 0 {
		nested, err := r.fields(f.Fields, depth)
		if err != nil {
			return Field{}, fmt.Errorf("field %s: %w", f.Name, err)
		}
		g.Fields = nested
	}
	return g, nil
}

func (r *resolver) include(inc *Include, depth int) ([]Field, error) {
	src, err := r.source(inc.Source, depth)
	if err != nil {
		return nil, err
	}
	switch inc.Kind {
	case IncludeField:
		f, ok := find(src.Fields, inc.Field)
		if !ok {
			return nil, fmt.Errorf("%s: field %q not found in %s", inc.Kind, inc.Field, inc.Source)
		}
		f = cloneField(f)
		if inc.NewName != "" {
			f.Name = inc.NewName
		}
		if inc.NewDescription != "" {
			f.Description = inc.NewDescription
		}
		if inc.AppendDescription != "" {
			if f.Description != "" {
				f.Description += "\n"
			}
			f.Description += inc.AppendDescription
		}
		if len(inc.NewFields) > 0 {
			nf, err := r.fields(inc.NewFields, depth+1)
			if err != nil {
				return nil, err
			}
			f.Fields = nf
		}
		return []Field{f}, nil
	case IncludeFields:
		list := src.Fields
		if inc.ParentField != "" {
			parent, ok := find(src.Fields, inc.ParentField)
			if !ok {
				return nil, fmt.Errorf("%s: parent field %q not found in %s", inc.Kind, inc.ParentField, inc.Source)
			}
			list = parent.Fields
		}
		var out []Field
		if len(inc.FieldNames) > 0 {
			for _, name := range inc.FieldNames {
				f, ok := find(list, name)
				if !ok {
					return nil, fmt.Errorf("%s: field %q not found in %s", inc.Kind, name, inc.Source)
				}
				out = append(out, cloneField(f))
			}
		} else {
			excluded := map[string]bool{}
			for _, n := range inc.ExcludeFieldNames {
				excluded[n] = true
			}
			for _, f := range list {
				if !excluded[f.Name] {
					out = append(out, cloneField(f))
				}
			}
		}
		if len(inc.FieldReplacements) > 0 {
			repl, err := r.fields(inc.FieldReplacements, depth+1)
			if err != nil {
				return nil, err
			}
			for _, rf := range repl {
				replaced := false
				for i := range out {
					if out[i].Name == rf.Name {
						out[i] = rf
						replaced = true
						break
					}
				}
				if !replaced {
					return nil, fmt.Errorf("%s: replacement field %q is not among the included fields", inc.Kind, rf.Name)
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported include %s", inc.Kind)
}

// find looks a dotted path ("record.field") up in fields.
func find(fields []Field, path string) (Field, bool) {
	parts := strings.Split(path, ".")
	cur := fields
	for i, part := range parts {
		var hit *Field
		for j := range cur {
			if cur[j].Name == part {
				hit = &cur[j]
				break
			}
		}
		if hit == nil {
			return Field{}, false
		}
		if i == len(parts)-1 {
			return *hit, true
		}
		cur = hit.Fields
	}
	return Field{}, false
}

func cloneField(f Field) Field {
	g := f
	if f.Fields != nil {
		g.Fields = make([]Field, len(f.Fields))
		for i, c := range f.Fields {
			g.Fields[i] = cloneField(c)
		}
	}
	return g
}

// ToWarehouse converts s to a warehouse.Schema, keeping column order and
// mapping legacy type names (INTEGER, FLOAT, BOOLEAN, STRUCT, …) to
// standard ones with warehouse.CanonicalType. It fails when s still has field includes (call Resolve first) or a
// field lacks a type.
func (s *Schema) ToWarehouse() (warehouse.Schema, error) {
	if un := s.Unresolved(); len(un) > 0 {
		return nil, fmt.Errorf("schema has %d unresolved include(s), the first from %s (line %d): resolve them first", len(un), un[0].Source, un[0].Line)
	}
	return convert(s.Fields, "")
}

func convert(fields []Field, prefix string) (warehouse.Schema, error) {
	out := make(warehouse.Schema, 0, len(fields))
	for _, f := range fields {
		name := prefix + f.Name
		if f.Type == "" {
			return nil, fmt.Errorf("field %s (line %d) has no type", name, f.Line)
		}
		t := warehouse.CanonicalType(f.Type)
		wf := warehouse.Field{Name: f.Name, Type: t, Mode: f.Mode, Description: f.Description}
		if len(f.Fields) > 0 {
			nested, err := convert(f.Fields, name+".")
			if err != nil {
				return nil, err
			}
			wf.Fields = nested
		}
		if t == "RECORD" && len(wf.Fields) == 0 {
			return nil, fmt.Errorf("field %s (line %d) is a RECORD without fields", name, f.Line)
		}
		out = append(out, wf)
	}
	return out, nil
}
