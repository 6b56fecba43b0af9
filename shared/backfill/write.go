package backfill

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/civil"
)

// Marshal returns the file's text. An unchanged parsed file comes back byte
// for byte. Otherwise entries that did not change keep their original text
// (and the original separation from the entry that followed them, when it
// still follows), and new or changed entries are written in the canonical
// form of bqetl's to_yaml (see Canonical), separated by one blank line, in
// Entries order. Comments before the first entry are kept.
func (f *File) Marshal() ([]byte, error) {
	if f.broken {
		return nil, fmt.Errorf("%s cannot be parsed, so it cannot be rewritten: fix it first", f.Path)
	}
	if f.src != nil && f.unchanged() {
		return append([]byte(nil), f.src...), nil
	}
	var b bytes.Buffer
	b.Write(f.prefix)
	for i, e := range f.Entries {
		var following *Entry
		if i+1 < len(f.Entries) {
			following = f.Entries[i+1]
		}
		unchanged := e.orig != nil && e.orig.text != nil && e.orig.hash == e.Hash()
		if unchanged && e.orig.next == following {
			// Still followed by the same entry (or still last): keep the
			// original text and the separation after it.
			b.Write(e.orig.segment)
			continue
		}
		text := e.Canonical()
		if unchanged {
			text = e.orig.text
		}
		b.Write(text)
		if len(text) > 0 && text[len(text)-1] != '\n' {
			b.WriteByte('\n')
		}
		if following != nil {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

func (f *File) unchanged() bool {
	if len(f.Entries) != len(f.parsed) {
		return false
	}
	for i, e := range f.Entries {
		if e != f.parsed[i] || e.orig == nil || e.orig.hash != e.Hash() {
			return false
		}
	}
	return true
}

// Canonical returns the entry as bqetl's to_yaml writes it (PyYAML
// yaml.dump with sort_keys=False and multi-line strings as literal blocks):
// the entry-date key, then the fields in the reference order (§1.2), null
// fields omitted, excluded_dates omitted when empty, booleans in lower case,
// dates unquoted, plain scalars wrapped after column 80 with continuation
// lines indented four spaces, and a trailing newline.
func (e *Entry) Canonical() []byte {
	w := &emitter{}
	w.raw(e.EntryDate.String() + ":\n")
	w.dateField("start_date", e.StartDate)
	w.dateField("end_date", e.EndDate)
	if len(e.ExcludedDates) > 0 {
		items := make([]string, len(e.ExcludedDates))
		for i, d := range sortedDates(e.ExcludedDates) {
			items[i] = d.String()
		}
		w.listField("excluded_dates", items, false)
	}
	w.strField("reason", e.Reason)
	w.listField("watchers", e.Watchers, true)
	w.strField("status", string(e.Status))
	if e.CustomQueryPath != "" {
		w.strField("custom_query_path", e.CustomQueryPath)
	}
	w.boolField("shredder_mitigation", e.ShredderMitigation)
	if e.ReinitializeTable != nil {
		w.boolField("reinitialize_table", *e.ReinitializeTable)
	}
	if e.ReinitializeSamplingBatchSize != nil {
		w.raw("  reinitialize_sampling_batch_size: " + strconv.Itoa(*e.ReinitializeSamplingBatchSize) + "\n")
	}
	w.boolField("override_retention_limit", e.OverrideRetentionLimit)
	w.boolField("override_depends_on_past_end_date", e.OverrideDependsOnPastEndDate)
	w.boolField("override_depends_on_past_null_partition", e.OverrideDependsOnPastNullPartition)
	w.boolField("ignore_date_partition_offset", e.IgnoreDatePartitionOffset)
	if e.BillingProject != "" {
		w.strField("billing_project", e.BillingProject)
	}
	if e.QueryScriptEntrypoint != "" {
		w.strField("query_script_entrypoint", e.QueryScriptEntrypoint)
	}
	if e.QueryScriptDateArg != "" {
		w.strField("query_script_date_arg", e.QueryScriptDateArg)
	}
	if e.QueryScriptArgs != nil {
		w.listField("query_script_args", e.QueryScriptArgs, true)
	}
	if e.QueryScriptDryRunArg != "" {
		w.strField("query_script_dry_run_arg", e.QueryScriptDryRunArg)
	}
	return w.buf.Bytes()
}

func sortedDates(ds []civil.Date) []civil.Date {
	out := append([]civil.Date(nil), ds...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Before(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// emitter writes the block-style YAML PyYAML's Emitter produces for an
// entry: a mapping at indent 2, sequences not indented under their key, and
// scalars at indent 4 (the indent of continuation lines).
type emitter struct {
	buf    bytes.Buffer
	column int // in characters, as PyYAML counts
}

const (
	bestWidth   = 80
	scalarInden = 4
)

func (w *emitter) raw(s string) {
	w.buf.WriteString(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		w.column = utf8.RuneCountInString(s[i+1:])
	} else {
		w.column += utf8.RuneCountInString(s)
	}
}

func (w *emitter) dateField(key string, d civil.Date) {
	w.raw("  " + key + ": " + d.String() + "\n")
}

func (w *emitter) boolField(key string, v bool) {
	w.raw("  " + key + ": " + strconv.FormatBool(v) + "\n")
}

func (w *emitter) strField(key, v string) {
	w.raw("  " + key + ":")
	w.scalar(v)
	w.raw("\n")
}

// listField writes a block sequence of strings (quoted as needed), or of
// dates when strs is false. An empty list is written in flow style, [].
func (w *emitter) listField(key string, items []string, strs bool) {
	if len(items) == 0 {
		w.raw("  " + key + ": []\n")
		return
	}
	w.raw("  " + key + ":\n")
	for _, it := range items {
		w.raw("  -")
		if strs {
			w.scalar(it)
		} else {
			w.raw(" " + it)
		}
		w.raw("\n")
	}
}

// scalar writes a string value after "key:" or "-", choosing the style as
// PyYAML does: plain when the text would read back as the same string,
// a literal block for multi-line text, single quotes otherwise, and double
// quotes for text only they can carry.
func (w *emitter) scalar(s string) {
	a := analyze(s)
	multiline := len(pySplitLines(s)) > 1
	switch {
	case !multiline && plainResolvesToString(s) && a.allowBlockPlain:
		w.plain(s)
	case multiline && a.allowBlock:
		w.literal(s)
	case !multiline && a.allowSingleQuoted:
		// Text with line breaks reaches here only when splitlines sees one
		// line (a single trailing newline).
		w.singleQuoted(s)
	default:
		w.doubleQuoted(s)
	}
}

// analysis is PyYAML's ScalarAnalysis, for block context.
type analysis struct {
	allowBlockPlain   bool
	allowSingleQuoted bool
	allowBlock        bool
}

func isBreak(r rune) bool { return r == '\n' || r == '\x85' || r == '\u2028' || r == '\u2029' }

func isSpaceOrBreak(r rune) bool {
	return r == 0 || r == ' ' || r == '\t' || r == '\r' || isBreak(r)
}

// analyze follows PyYAML's Emitter.analyze_scalar with allow_unicode off.
func analyze(s string) analysis {
	if s == "" {
		return analysis{allowBlockPlain: true, allowSingleQuoted: true}
	}
	rs := []rune(s)
	var blockIndicators, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockIndicators = true
	}
	precededByWS := true
	followedByWS := len(rs) == 1 || isSpaceOrBreak(rs[1])
	prevSpace, prevBreak := false, false
	for i, ch := range rs {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				blockIndicators = true
			}
			if (ch == '?' || ch == ':') && followedByWS {
				blockIndicators = true
			}
			if ch == '-' && followedByWS {
				blockIndicators = true
			}
		} else {
			if ch == ':' && followedByWS {
				blockIndicators = true
			}
			if ch == '#' && precededByWS {
				blockIndicators = true
			}
		}
		if isBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || (ch >= 0x20 && ch <= 0x7E)) {
			// Printable non-ASCII is still special: allow_unicode is off.
			special = true
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(rs)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isBreak(ch):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(rs)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		precededByWS = isSpaceOrBreak(ch)
		followedByWS = i+2 >= len(rs) || isSpaceOrBreak(rs[i+2])
	}
	a := analysis{allowBlockPlain: true, allowSingleQuoted: true, allowBlock: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowBlockPlain = false
	}
	if trailingSpace {
		a.allowBlock = false
	}
	if breakSpace {
		a.allowBlockPlain, a.allowSingleQuoted = false, false
	}
	if spaceBreak || special {
		a.allowBlockPlain, a.allowSingleQuoted, a.allowBlock = false, false, false
	}
	if lineBreaks || blockIndicators {
		a.allowBlockPlain = false
	}
	return a
}

// pySplitLines splits like Python's str.splitlines (without keepends).
func pySplitLines(s string) []string {
	var out []string
	start := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029':
			out = append(out, string(rs[start:i]))
			if rs[i] == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(rs) {
		out = append(out, string(rs[start:]))
	}
	return out
}

// PyYAML's implicit resolvers (YAML 1.1) for plain scalars.
var implicitRE = []*regexp.Regexp{
	regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
}

// plainResolvesToString reports whether s, written plain, reads back as a
// string (not a bool, number, null, date, merge or value key).
func plainResolvesToString(s string) bool {
	for _, re := range implicitRE {
		if re.MatchString(s) {
			return false
		}
	}
	return true
}

// writeIndent starts a continuation line at the scalar indent, as PyYAML's
// write_indent does inside a scalar.
func (w *emitter) writeIndent() {
	w.buf.WriteByte('\n')
	w.buf.WriteString(strings.Repeat(" ", scalarInden))
	w.column = scalarInden
}

func (w *emitter) write(s string) {
	w.buf.WriteString(s)
	w.column += utf8.RuneCountInString(s)
}

// plain is PyYAML's write_plain: words are written until the column passes
// 80, then the next single space becomes a line break.
func (w *emitter) plain(s string) {
	w.write(" ")
	rs := []rune(s)
	spaces := false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		if spaces {
			if ch != ' ' {
				if start+1 == end && w.column > bestWidth {
					w.writeIndent()
				} else {
					w.write(string(rs[start:end]))
				}
				start = end
			}
		} else if ch == -1 || ch == ' ' {
			w.write(string(rs[start:end]))
			start = end
		}
		spaces = ch == ' '
	}
}

// singleQuoted is PyYAML's write_single_quoted.
func (w *emitter) singleQuoted(s string) {
	w.write(" '")
	rs := []rune(s)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && w.column > bestWidth && start != 0 && end != len(rs) {
					w.writeIndent()
				} else {
					w.write(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if ch == -1 || !isBreak(ch) {
				if rs[start] == '\n' {
					w.lineBreak("\n")
				}
				for _, br := range rs[start:end] {
					w.lineBreak(string(br))
				}
				w.writeIndentAfterBreak()
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isBreak(ch) || ch == '\'' {
				if start < end {
					w.write(string(rs[start:end]))
					start = end
				}
			}
		}
		if ch == '\'' {
			w.write("''")
			start = end + 1
		}
		if ch != -1 {
			spaces, breaks = ch == ' ', isBreak(ch)
		}
	}
	w.write("'")
}

func (w *emitter) lineBreak(br string) {
	w.buf.WriteString(br)
	w.column = 0
}

// writeIndentAfterBreak indents a new line to the scalar indent.
func (w *emitter) writeIndentAfterBreak() {
	w.buf.WriteString(strings.Repeat(" ", scalarInden))
	w.column = scalarInden
}

// literal is PyYAML's write_literal with its block hints.
func (w *emitter) literal(s string) {
	rs := []rune(s)
	hints := ""
	if isBreak(rs[0]) || rs[0] == ' ' {
		hints += "2"
	}
	switch {
	case !isBreak(rs[len(rs)-1]):
		hints += "-"
	case len(rs) == 1 || isBreak(rs[len(rs)-2]):
		hints += "+"
	}
	w.write(" |" + hints)
	w.buf.WriteByte('\n')
	w.column = 0
	breaks := true
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		if breaks {
			if ch == -1 || !isBreak(ch) {
				for _, br := range rs[start:end] {
					if br == '\n' {
						w.buf.WriteByte('\n')
					} else {
						w.buf.WriteString(string(br))
					}
					w.column = 0
				}
				if ch != -1 {
					w.buf.WriteString(strings.Repeat(" ", scalarInden))
					w.column = scalarInden
				}
				start = end
			}
		} else if ch == -1 || isBreak(ch) {
			w.write(string(rs[start:end]))
			if ch == -1 {
				w.buf.WriteByte('\n')
				w.column = 0
			}
			start = end
		}
		if ch != -1 {
			breaks = isBreak(ch)
		}
	}
	// The caller ends the field with a newline; the block already did.
	w.buf.Truncate(w.buf.Len() - 1)
}

var escapes = map[rune]string{
	0: "0", '\a': "a", '\b': "b", '\t': "t", '\n': "n", '\v': "v", '\f': "f",
	'\r': "r", '\x1b': "e", '"': "\"", '\\': "\\", '\x85': "N", '\u00a0': "_",
	'\u2028': "L", '\u2029': "P",
}

// doubleQuoted is PyYAML's write_double_quoted with allow_unicode off.
func (w *emitter) doubleQuoted(s string) {
	w.write(" \"")
	rs := []rune(s)
	start := 0
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		if ch == -1 || ch == '"' || ch == '\\' || ch == '\x85' || ch == '\u2028' || ch == '\u2029' || ch == '\ufeff' || !(ch >= 0x20 && ch <= 0x7E) {
			if start < end {
				w.write(string(rs[start:end]))
				start = end
			}
			if ch != -1 {
				var data string
				if esc, ok := escapes[ch]; ok {
					data = "\\" + esc
				} else if ch <= 0xFF {
					data = fmt.Sprintf("\\x%02X", ch)
				} else if ch <= 0xFFFF {
					data = fmt.Sprintf("\\u%04X", ch)
				} else {
					data = fmt.Sprintf("\\U%08X", ch)
				}
				w.write(data)
				start = end + 1
			}
		}
		if end > 0 && end < len(rs)-1 && (ch == ' ' || start >= end) && w.column+(end-start) > bestWidth {
			data := string(rs[start:end]) + "\\"
			if start < end {
				start = end
			}
			w.write(data)
			w.writeIndent()
			if rs[start] == ' ' {
				w.write("\\")
			}
		}
	}
	w.write("\"")
}
