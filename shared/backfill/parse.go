package backfill

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"cloud.google.com/go/civil"
	"gopkg.in/yaml.v3"

	"github.com/bqbackfill/bqbackfill/shared/treefs"
)

// LoadFile reads and parses the backfill file at name in fsys. A name whose
// base is not backfill.yaml is rejected (P5) without being opened.
func LoadFile(fsys fs.FS, name, display string) (*File, []Error) {
	if path.Base(name) != FileName {
		return nil, []Error{{Rule: "P5", File: display, Message: fmt.Sprintf("invalid file: %s: a backfill file must be named %s", display, FileName)}}
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, []Error{ReadError(display, err)}
	}
	return Parse(data, display)
}

// fieldKind says how a field's value is read.
type fieldKind int

const (
	kDate fieldKind = iota
	kDates
	kString
	kStrings
	kBool
	kOptBool
	kInt
)

var fieldKinds = map[string]fieldKind{
	"start_date":                        kDate,
	"end_date":                          kDate,
	"excluded_dates":                    kDates,
	"reason":                            kString,
	"watchers":                          kStrings,
	"status":                            kString,
	"custom_query_path":                 kString,
	"shredder_mitigation":               kBool,
	"reinitialize_table":                kOptBool,
	"reinitialize_sampling_batch_size":  kInt,
	"override_retention_limit":          kBool,
	"override_depends_on_past_end_date": kBool,
	"override_depends_on_past_null_partition": kBool,
	"ignore_date_partition_offset":            kBool,
	"billing_project":                         kString,
	"query_script_entrypoint":                 kString,
	"query_script_date_arg":                   kString,
	"query_script_args":                       kStrings,
	"query_script_dry_run_arg":                kString,
}

// fieldOrder is the order of the fields in the reference (§1.2), used to
// list the known fields in messages.
var fieldOrder = []string{
	"start_date", "end_date", "excluded_dates", "reason", "watchers", "status",
	"custom_query_path", "shredder_mitigation", "reinitialize_table",
	"reinitialize_sampling_batch_size", "override_retention_limit",
	"override_depends_on_past_end_date", "override_depends_on_past_null_partition",
	"ignore_date_partition_offset", "billing_project", "query_script_entrypoint",
	"query_script_date_arg", "query_script_args", "query_script_dry_run_arg",
}

var dateKeyRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// Parse reads a backfill.yaml. file names it in errors. It returns the
// entries it could read (possibly with problems) and every problem found:
// duplicate keys in any mapping (P1), YAML errors (P2), missing fields (P3),
// unknown statuses (P4), the date, watcher and reason rules P7–P14, unknown
// fields (P16) and wrongly typed values (P17). P6 and P15 depend on today
// and on the settings and are checked by Validate.
func Parse(data []byte, file string) (*File, []Error) {
	f := &File{Path: file, src: append([]byte(nil), data...)}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		f.broken = true
		return f, []Error{{Rule: "P2", File: file, Line: yamlErrorLine(err), Message: "unable to parse the backfill file: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	p := &entryParser{file: file}
	if len(doc.Content) == 0 {
		return f, nil
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return f, nil
	}
	if root.Kind != yaml.MappingNode {
		f.broken = true
		p.add("P17", root.Line, "", "", "the file must be a mapping of entry date (YYYY-MM-DD) to entry fields")
		return f, p.errs
	}
	p.duplicateKeys(root, "")

	seen := map[string]bool{}
	var keyLines []int
	sliceable := root.Style&yaml.FlowStyle == 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := deref(root.Content[i]), deref(root.Content[i+1])
		keyLines = append(keyLines, k.Line)
		if k.Column != 1 {
			sliceable = false
		}
		if seen[k.Value] {
			continue // reported as P1; the first entry with the date wins
		}
		seen[k.Value] = true
		if k.Kind != yaml.ScalarNode || !dateKeyRE.MatchString(k.Value) {
			p.add("P17", k.Line, k.Value, "", fmt.Sprintf("entry key %q is not an entry date: each top-level key must be the date the entry was created, YYYY-MM-DD", k.Value))
			continue
		}
		d, err := civil.ParseDate(k.Value)
		if err != nil {
			p.add("P17", k.Line, k.Value, "", fmt.Sprintf("entry key %q is not a valid calendar date (YYYY-MM-DD)", k.Value))
			continue
		}
		e := p.entry(d, k, v)
		if e == nil {
			continue
		}
		f.Entries = append(f.Entries, e)
	}
	f.parsed = append([]*Entry(nil), f.Entries...)
	if sliceable {
		f.slice(data, root, keyLines)
	} else {
		for _, e := range f.Entries {
			e.orig = &original{hash: e.Hash()}
		}
	}
	return f, p.errs
}

// slice records each entry's original text: from its key line up to the
// next top-level key (or the end of the file), without trailing blank lines.
// Text before the first key is the file's prefix.
func (f *File) slice(data []byte, root *yaml.Node, keyLines []int) {
	lineStart := []int{0}
	for i, c := range data {
		if c == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	offset := func(line int) int { // 1-based line to byte offset
		if line-1 < len(lineStart) {
			return lineStart[line-1]
		}
		return len(data)
	}
	if len(keyLines) > 0 {
		f.prefix = append([]byte(nil), data[:offset(keyLines[0])]...)
	}
	byLine := map[int]*Entry{}
	for _, e := range f.Entries {
		byLine[e.Line] = e
	}
	for i, line := range keyLines {
		end := len(data)
		var next *Entry
		if i+1 < len(keyLines) {
			end = offset(keyLines[i+1])
			next = byLine[keyLines[i+1]]
		}
		e := byLine[line]
		if e == nil {
			continue
		}
		segment := data[offset(line):end]
		text := trimTrailingBlankLines(segment)
		e.orig = &original{
			text:    append([]byte(nil), text...),
			segment: append([]byte(nil), segment...),
			next:    next,
			hash:    e.Hash(),
		}
	}
}

func trimTrailingBlankLines(b []byte) []byte {
	end := len(b)
	for end > 0 {
		lineEnd := end
		if b[lineEnd-1] == '\n' {
			lineEnd--
		}
		start := bytes.LastIndexByte(b[:lineEnd], '\n') + 1
		if len(bytes.TrimSpace(b[start:lineEnd])) != 0 {
			return b[:end]
		}
		end = start
	}
	return b[:0]
}

var yamlLineRE = regexp.MustCompile(`line ([0-9]+)`)

func yamlErrorLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

type entryParser struct {
	file string
	errs []Error
	// mistyped holds "<entry>/<field>" of the values P17 rejected: the
	// field rules would only repeat the problem with a zero value ("watchers
	// is empty", a start_date of 0000-00-00).
	mistyped map[string]bool
}

func (p *entryParser) add(rule string, line int, entry, field, msg string) {
	if rule == "P17" {
		if p.mistyped == nil {
			p.mistyped = map[string]bool{}
		}
		p.mistyped[entry+"/"+field] = true
	}
	p.errs = append(p.errs, Error{Rule: rule, File: p.file, Line: line, EntryDate: entry, Field: field, Message: msg})
}

// duplicateKeys reports P1 for a key repeated in any mapping of the file.
func (p *entryParser) duplicateKeys(n *yaml.Node, entry string) {
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := k.Value
			e := entry
			if entry == "" {
				e = key
			}
			if line, dup := first[key]; dup {
				if entry == "" {
					p.add("P1", k.Line, key, "", fmt.Sprintf("backfill entry already exists with entry date: %s (first at line %d); entry dates must be unique, so merge the two entries or give the newer one today's date", key, line))
				} else {
					p.add("P1", k.Line, entry, key, fmt.Sprintf("field %s is given twice in this entry (first at line %d); keep only one", key, line))
				}
			} else {
				first[key] = k.Line
			}
			p.duplicateKeys(n.Content[i+1], e)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			p.duplicateKeys(c, entry)
		}
	}
}

func (p *entryParser) entry(date civil.Date, k, v *yaml.Node) *Entry {
	key := k.Value
	if v.Kind != yaml.MappingNode {
		p.add("P17", v.Line, key, "", "an entry must be a mapping of fields (start_date, end_date, reason, watchers, status, …)")
		return nil
	}
	e := &Entry{EntryDate: date, Line: k.Line}
	present := map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk, fv := deref(v.Content[i]), deref(v.Content[i+1])
		name := fk.Value
		if _, dup := present[name]; dup {
			continue // P1 already reported
		}
		present[name] = fk
		kind, known := fieldKinds[name]
		if !known {
			msg := fmt.Sprintf("unknown field %q", name)
			if near := closestField(name); near != "" {
				msg += fmt.Sprintf(": did you mean %s?", near)
			} else {
				msg += "; the fields of an entry are: " + strings.Join(fieldOrder, ", ")
			}
			p.add("P16", fk.Line, key, name, msg)
			continue
		}
		if e.lines == nil {
			e.lines = map[string]int{}
		}
		e.lines[name] = fk.Line
		p.field(e, key, name, kind, fv)
	}
	for _, req := range []string{"start_date", "end_date", "reason", "watchers", "status"} {
		if present[req] == nil {
			p.add("P3", k.Line, key, req, fmt.Sprintf("required field %s is missing", req))
		}
	}
	line := func(field string) int {
		if n := present[field]; n != nil {
			return n.Line
		}
		return k.Line
	}
	for _, err := range CheckFields(e, present["start_date"] != nil, present["end_date"] != nil) {
		err.File = p.file
		err.Line = line(err.Field)
		if err.Rule == "P14" && present["reason"] == nil {
			continue // P3 covers a missing reason
		}
		if err.Rule == "P12" && present["watchers"] == nil {
			continue // P3 covers missing watchers
		}
		if p.mistyped[key+"/"+err.Field] {
			continue // P17 covers a value of the wrong type
		}
		p.errs = append(p.errs, err)
	}
	return e
}

// field stores one field's value, reporting P4 and P17.
func (p *entryParser) field(e *Entry, key, name string, kind fieldKind, v *yaml.Node) {
	bad := func(want string) {
		p.add("P17", v.Line, key, name, fmt.Sprintf("%s must be %s, got %s", name, want, describe(v)))
	}
	switch kind {
	case kDate:
		d, ok := dateValue(v)
		if !ok {
			bad("a date YYYY-MM-DD")
			return
		}
		if name == "start_date" {
			e.StartDate = d
		} else {
			e.EndDate = d
		}
	case kDates:
		if v.Kind != yaml.SequenceNode {
			bad("a list of dates YYYY-MM-DD (leave the key out when nothing is excluded)")
			return
		}
		for _, item := range v.Content {
			d, ok := dateValue(deref(item))
			if !ok {
				p.add("P17", item.Line, key, name, fmt.Sprintf("%s must be a list of dates YYYY-MM-DD, got %s", name, describe(deref(item))))
				continue
			}
			e.ExcludedDates = append(e.ExcludedDates, d)
		}
	case kString:
		if isNull(v) {
			if name == "status" {
				p.add("P4", v.Line, key, name, "status is empty: use Initiate, Complete or Cancelled")
			}
			return // reason: P14 below; optional strings: null
		}
		if v.Kind != yaml.ScalarNode {
			bad("a string")
			return
		}
		switch name {
		case "reason":
			e.Reason = v.Value
		case "status":
			s, err := ParseStatus(v.Value)
			if err != nil {
				p.add("P4", v.Line, key, name, fmt.Sprintf("unknown status %q (read as %q): use Initiate, Complete or Cancelled", v.Value, strings.ToUpper(v.Value)))
				return
			}
			e.Status = s
		case "custom_query_path":
			e.CustomQueryPath = v.Value
		case "billing_project":
			e.BillingProject = v.Value
		case "query_script_entrypoint":
			e.QueryScriptEntrypoint = v.Value
		case "query_script_date_arg":
			e.QueryScriptDateArg = v.Value
		case "query_script_dry_run_arg":
			e.QueryScriptDryRunArg = v.Value
		}
	case kStrings:
		if isNull(v) {
			if name == "watchers" {
				e.Watchers = nil // P12: empty
			}
			return
		}
		if v.Kind != yaml.SequenceNode {
			bad("a list of strings")
			return
		}
		list := []string{}
		for _, item := range v.Content {
			item = deref(item)
			if isNull(item) {
				list = append(list, "")
				continue
			}
			if item.Kind != yaml.ScalarNode {
				// One problem for the field, not one per item.
				p.add("P17", item.Line, key, name, fmt.Sprintf("%s must be a list of strings, got %s as an item (line %d)", name, describe(item), item.Line))
				return
			}
			list = append(list, item.Value)
		}
		if name == "watchers" {
			e.Watchers = list
		} else {
			e.QueryScriptArgs = list
		}
	case kBool, kOptBool:
		if isNull(v) {
			return
		}
		b, ok := boolValue(v)
		if !ok {
			bad("true or false")
			return
		}
		switch name {
		case "shredder_mitigation":
			e.ShredderMitigation = b
		case "reinitialize_table":
			e.ReinitializeTable = &b
		case "override_retention_limit":
			e.OverrideRetentionLimit = b
		case "override_depends_on_past_end_date":
			e.OverrideDependsOnPastEndDate = b
		case "override_depends_on_past_null_partition":
			e.OverrideDependsOnPastNullPartition = b
		case "ignore_date_partition_offset":
			e.IgnoreDatePartitionOffset = b
		}
	case kInt:
		if isNull(v) {
			return
		}
		n, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil {
			bad("a whole number")
			return
		}
		e.ReinitializeSamplingBatchSize = &n
	}
}

// closestField returns the known field nearest to a misspelt name (at most
// three edits away), or "".
func closestField(name string) string {
	best, bestDist := "", 4
	for _, f := range fieldOrder {
		if d := editDistance(name, f); d < bestDist {
			best, bestDist = f, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

// dateValue reads a YYYY-MM-DD date, plain or quoted.
func dateValue(n *yaml.Node) (civil.Date, bool) {
	if n.Kind != yaml.ScalarNode || !dateKeyRE.MatchString(n.Value) {
		return civil.Date{}, false
	}
	d, err := civil.ParseDate(n.Value)
	if err != nil {
		return civil.Date{}, false
	}
	return d, true
}

// boolValue reads a YAML 1.1 boolean as PyYAML does (true/True/TRUE,
// yes/Yes/YES, on/On/ON and their negations), plain scalars only.
func boolValue(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// Field rules --------------------------------------------------------------

// emailRE and githubRE are bqetl's watcher patterns, matched as prefixes
// (Python re.match). The GitHub pattern's character class is bqetl's quirk:
// any run of the letters @, m, o, z, i, l, a, then "/" and an alphanumeric.
var (
	emailRE  = regexp.MustCompile(`^[^@]+@[^@]+\.[^@]+`)
	githubRE = regexp.MustCompile(`^[@mozilla]+/[a-zA-Z0-9]+`)
)

// ValidWatcher reports whether w looks like an email or a GitHub identity
// (rule P12).
func ValidWatcher(w string) bool {
	return w != "" && (emailRE.MatchString(w) || githubRE.MatchString(w))
}

// CheckFields applies the field rules P7–P14 to e and returns every
// problem (Field set, File and Line left for the caller). hasStart and
// hasEnd say whether the dates were given (P3 reports them otherwise).
func CheckFields(e *Entry, hasStart, hasEnd bool) []Error {
	// A date that did not parse (P17) is not compared with the others.
	hasStart = hasStart && e.StartDate.IsValid()
	hasEnd = hasEnd && e.EndDate.IsValid()
	var errs []Error
	key := e.Key()
	add := func(rule, field, msg string) {
		errs = append(errs, Error{Rule: rule, EntryDate: key, Field: field, Message: msg})
	}
	if hasStart {
		switch {
		case hasEnd && e.EndDate.Before(e.StartDate):
			add("P7", "start_date", fmt.Sprintf("invalid start date: %s: start_date must be on or before end_date (%s)", e.StartDate, e.EndDate))
		case e.EntryDate.Before(e.StartDate):
			add("P7", "start_date", fmt.Sprintf("invalid start date: %s: start_date must be on or before the entry date (%s)", e.StartDate, key))
		}
	}
	if hasEnd && e.EntryDate.Before(e.EndDate) && !(hasStart && e.EndDate.Before(e.StartDate)) {
		add("P8", "end_date", fmt.Sprintf("invalid end date: %s: end_date must be on or before the entry date (%s)", e.EndDate, key))
	}
	if hasStart && hasEnd {
		var outside []string
		for _, d := range e.ExcludedDates {
			if !(e.StartDate.Before(d) && d.Before(e.EndDate)) {
				outside = append(outside, d.String())
			}
		}
		if len(outside) > 0 {
			add("P9", "excluded_dates", fmt.Sprintf("invalid excluded dates: %s: each excluded date must be strictly between start_date (%s) and end_date (%s); to skip the first or last day, move start_date or end_date instead", strings.Join(outside, ", "), e.StartDate, e.EndDate))
		}
	}
	if !datesSorted(e.ExcludedDates) {
		add("P10", "excluded_dates", fmt.Sprintf("excluded dates not sorted: %s: list them in ascending order", joinDates(e.ExcludedDates)))
	}
	if d := duplicateDates(e.ExcludedDates); len(d) > 0 {
		add("P11", "excluded_dates", fmt.Sprintf("duplicate excluded dates: %s: list each date once", joinDates(d)))
	}
	var invalid []string
	for _, w := range e.Watchers {
		if !ValidWatcher(w) {
			invalid = append(invalid, strconv.Quote(w))
		}
	}
	switch {
	case len(e.Watchers) == 0:
		add("P12", "watchers", "watchers is empty: give at least one email (name@example.com) or GitHub identity (@mozilla/team)")
	case len(invalid) > 0:
		add("P12", "watchers", fmt.Sprintf("invalid email or GitHub identity for watchers: %s: each watcher must be an email (name@example.com) or a GitHub identity (@mozilla/team)", strings.Join(invalid, ", ")))
	}
	seen := map[string]bool{}
	var dups []string
	for _, w := range e.Watchers {
		if seen[w] && w != "" {
			dups = append(dups, w)
		}
		seen[w] = true
	}
	if len(dups) > 0 {
		add("P13", "watchers", fmt.Sprintf("duplicate watcher in (%s): list each watcher once", strings.Join(dups, ", ")))
	}
	if strings.TrimSpace(e.Reason) == "" {
		add("P14", "reason", "reason in backfill entry should not be empty: say why the table is backfilled and link the bug or ticket")
	}
	return errs
}

func datesSorted(ds []civil.Date) bool {
	for i := 1; i < len(ds); i++ {
		if ds[i].Before(ds[i-1]) {
			return false
		}
	}
	return true
}

func duplicateDates(ds []civil.Date) []civil.Date {
	seen := map[civil.Date]bool{}
	var out []civil.Date
	for _, d := range ds {
		if seen[d] {
			out = append(out, d)
		}
		seen[d] = true
	}
	return out
}

func joinDates(ds []civil.Date) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

// ReadError is the rule and message for a file of the tree that cannot be
// read: refused by treefs (T3, T4), or any other read failure (P2).
func ReadError(display string, err error) Error {
	why := treefs.Describe(err)
	switch {
	case errors.Is(err, treefs.ErrTooLarge):
		return Error{Rule: "T4", File: display, Message: path.Base(display) + " " + why}
	case why != "":
		return Error{Rule: "T3", File: display, Message: path.Base(display) + " " + why}
	}
	return Error{Rule: "P2", File: display, Message: fmt.Sprintf("cannot read the file: %v", err)}
}
