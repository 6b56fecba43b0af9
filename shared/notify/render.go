package notify

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Format is the markup Render writes.
type Format int

const (
	// Plain is text for a terminal or a log: links as "label (url)", emoji
	// as Unicode characters, watchers on a closing "Watchers:" line.
	Plain Format = iota
	// SlackMrkdwn is Slack's mrkdwn: links as <url|label>, emoji as :codes:,
	// &, < and > escaped, watchers mentioned at the start as bqetl does.
	SlackMrkdwn
)

// RenderOptions tunes Render. The zero value renders plain text with no
// links.
type RenderOptions struct {
	Format Format
	// Mentions, for SlackMrkdwn, lead the message (for example "<@U024BE7LH>"
	// from a user lookup). Nil means "<@local-part>" for each watcher, which
	// is what bqetl sends.
	Mentions []string
	// ConsoleLinks links table names to the BigQuery page of the Cloud
	// Console (ConsoleTableURL). Off in local mode, where tables live in
	// DuckDB.
	ConsoleLinks bool
	// LogsURL, when set and not returning "", adds a link to the backfill's
	// logs (CloudLoggingURL builds one).
	LogsURL func(Event) string
	// HelpChannel, when set, ends failure messages with "Ask in <channel> if
	// you need help." Slack channel links look like "<#C01E8GDG80N>".
	HelpChannel string
	// MaxListed caps the partitions, errors and differences listed; 0 means
	// 5 partitions and 10 rule violations.
	MaxListed int
}

// ConsoleTableURL links to t in the BigQuery page of the Cloud Console. It
// uses the query-parameter form (project, p, d, t, page=table), which the
// console has accepted for years and which needs no encoding beyond
// query-escaping the names; the newer "ws=!1m5!1m4!4m3!1sP!2sD!3sT" form is
// an undocumented serialization.
func ConsoleTableURL(t warehouse.TableRef) string {
	p, d, n := url.QueryEscape(t.Project), url.QueryEscape(t.Dataset), url.QueryEscape(t.Table)
	return "https://console.cloud.google.com/bigquery?project=" + p + "&p=" + p + "&d=" + d + "&t=" + n + "&page=table"
}

// CloudLoggingURL returns a LogsURL for RenderOptions: the Logs Explorer of
// project, filtered on the event's backfill id as a log label or a JSON
// payload field (labels.backfill_id or jsonPayload.backfill_id). It returns
// "" for an event without a backfill id.
func CloudLoggingURL(project string) func(Event) string {
	return func(e Event) string {
		if project == "" || e.BackfillID == "" {
			return ""
		}
		id := strconv.Quote(e.BackfillID)
		q := "labels.backfill_id=" + id + " OR jsonPayload.backfill_id=" + id
		return "https://console.cloud.google.com/logs/query;query=" +
			strings.ReplaceAll(url.QueryEscape(q), "+", "%20") + "?project=" + url.QueryEscape(project)
	}
}

// Render returns the human message for e, in the wording of bqetl's Slack
// messages where one exists. The message never lists more than a handful of
// partitions, however many the backfill has.
func Render(e Event, opts RenderOptions) string {
	r := renderer{opts: opts, e: e}
	r.body()
	return strings.TrimRight(r.b.String(), "\n")
}

// bullet starts a list item in both formats.
const bullet = "•"

type renderer struct {
	opts RenderOptions
	e    Event
	b    strings.Builder
}

// Emoji by Slack short code, with the Unicode character Plain uses.
var emoji = map[string]string{
	"hourglass_flowing_sand": "⏳",
	"white_check_mark":       "✅",
	"x":                      "❌",
	"no_entry":               "⛔",
	"no_entry_sign":          "🚫",
	"warning":                "⚠️",
	"rewind":                 "⏪",
	"information_source":     "ℹ️",
}

func (r *renderer) slack() bool { return r.opts.Format == SlackMrkdwn }

func (r *renderer) emoji(code string) string {
	if r.slack() {
		return ":" + code + ":"
	}
	return emoji[code]
}

// esc escapes text for the format (Slack's &, <, >).
func (r *renderer) esc(s string) string {
	if !r.slack() {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (r *renderer) code(s string) string { return "`" + r.esc(s) + "`" }

func (r *renderer) link(u, label string) string {
	if r.slack() {
		return "<" + u + "|" + r.esc(label) + ">"
	}
	return label + " (" + u + ")"
}

// table renders a table name as code, linked to the console when enabled.
func (r *renderer) table(name string) string {
	if r.opts.ConsoleLinks {
		if ref, err := warehouse.ParseTableRef(name); err == nil {
			if r.slack() {
				return r.link(ConsoleTableURL(ref), name)
			}
			return r.code(name) + " (" + ConsoleTableURL(ref) + ")"
		}
	}
	return r.code(name)
}

// entry is " (entry 2024-01-05, 31 partitions)" or less.
func (r *renderer) entry(withPartitions bool) string {
	var parts []string
	if !r.e.EntryDate.IsZero() {
		parts = append(parts, "entry "+r.e.EntryDate.String())
	}
	if withPartitions && r.e.Partitions > 0 {
		parts = append(parts, plural(r.e.Partitions, "partition"))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func (r *renderer) line(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteByte('\n')
}

// headline writes the first line, led by the mentions in Slack.
func (r *renderer) headline(format string, args ...any) {
	if r.slack() {
		mentions := r.opts.Mentions
		if mentions == nil {
			for _, w := range r.e.Watchers {
				mentions = append(mentions, "<@"+r.esc(LocalPart(w))+">")
			}
		}
		for _, m := range mentions {
			r.b.WriteString(m + " ")
		}
	}
	r.line(format, args...)
}

func (r *renderer) body() {
	e := r.e
	t := r.code(e.Table)
	switch e.Kind {
	case KindStarted:
		r.headline("%s Initiating backfill scheduled for %s%s. You will receive another notification once the backfill is done.",
			r.emoji("hourglass_flowing_sand"), t, r.entry(true))
		if e.StagingTable != "" {
			r.line("Staging table: %s", r.table(e.StagingTable))
		}
	case KindDone:
		staging := "the staging table"
		if e.StagingTable != "" {
			staging = r.table(e.StagingTable)
		}
		r.headline("%s Backfill processing is done for %s%s. Staging location: %s. "+
			"Please validate that your data has changed as you expect, then complete the backfill by setting the entry's status to Complete in backfill.yaml. "+
			"Note that the staging table will expire in 30 days, so the backfill must be completed within 30 days.",
			r.emoji("white_check_mark"), t, r.entry(true), staging)
		r.comparison()
		r.profileChanges()
		r.checkWarnings()
	case KindFailed:
		r.failed()
	case KindCompleting:
		backup := ""
		if e.BackupTable != "" {
			backup = " at " + r.table(e.BackupTable)
		}
		r.headline("%s Completing backfill of %s%s has started - currently swapping backfill data into production. "+
			"A snapshot of the current production data will be kept as a backup for 30 days%s. "+
			"You will receive another notification once the completing step is done.",
			r.emoji("hourglass_flowing_sand"), t, r.entry(true), backup)
	case KindCompleted:
		r.headline("%s Backfill is complete for %s%s. Production data has been updated.",
			r.emoji("white_check_mark"), t, r.entry(true))
		if e.BackupTable != "" {
			r.line("The previous production data is kept in %s for 30 days; %s restores it.",
				r.table(e.BackupTable), r.code("bqbackfill rollback "+e.Table))
		}
	case KindRejected:
		r.rejected()
	case KindCancelled:
		r.headline("%s Backfill of %s%s was cancelled; no further partitions will run.",
			r.emoji("no_entry_sign"), t, r.entry(false))
	case KindEdited:
		r.headline("%s The backfill entry for %s%s changed after the backfill started. "+
			"The change is not applied to the running backfill; create a new entry to change a running backfill.",
			r.emoji("warning"), t, r.entry(false))
	case KindRolledBack:
		from := "from the backup"
		if e.BackupTable != "" {
			from = "from the backup " + r.table(e.BackupTable)
		}
		r.headline("%s Backfill of %s%s was rolled back: production was restored %s.",
			r.emoji("rewind"), t, r.entry(true), from)
	default:
		r.headline("%s Backfill event %s for %s%s.", r.emoji("information_source"), r.code(string(e.Kind)), t, r.entry(false))
	}
	if e.Text != "" && !(e.Kind == KindFailed && len(e.Failed) == 0) {
		r.line("%s", r.esc(e.Text))
	}
	if (e.Kind == KindFailed || e.Kind == KindRejected) && r.opts.HelpChannel != "" {
		r.line("Ask in %s if you need help.", r.opts.HelpChannel)
	}
	if r.opts.LogsURL != nil {
		if u := r.opts.LogsURL(e); u != "" {
			if r.slack() {
				r.line("%s", r.link(u, "Logs"))
			} else {
				r.line("Logs: %s", u)
			}
		}
	}
	if !r.slack() && len(e.Watchers) > 0 {
		r.line("Watchers: %s", strings.Join(e.Watchers, ", "))
	}
}

func (r *renderer) maxListed(def int) int {
	if r.opts.MaxListed > 0 {
		return r.opts.MaxListed
	}
	return def
}

// failed renders a failure: of some partitions (with `bqbackfill retry`), or
// of a step such as a refused completion (Text says which; producers set
// the staging and backup names on every event, so they say nothing about
// the step).
func (r *renderer) failed() {
	e := r.e
	t := r.code(e.Table)
	if len(e.Failed) == 0 {
		detail := "."
		if e.Text != "" {
			detail = ": " + r.esc(oneLine(e.Text, 500))
			if !strings.HasSuffix(detail, ".") {
				detail += "."
			}
		}
		r.headline("%s Backfill for %s%s failed%s", r.emoji("x"), t, r.entry(false), detail)
		r.line("Run %s to see which steps finished.", r.code("bqbackfill status "+e.Table))
		return
	}
	of := ""
	if e.Partitions > 0 {
		of = fmt.Sprintf(" of %d", e.Partitions)
	}
	noun := "partitions"
	if e.Partitions <= 1 && len(e.Failed) == 1 {
		noun = "partition"
	}
	r.headline("%s Backfill for %s%s failed: %d%s %s failed every attempt.",
		r.emoji("x"), t, r.entry(false), len(e.Failed), of, noun)
	failed := slices.Clone(e.Failed)
	slices.SortStableFunc(failed, func(a, b PartitionFailure) int { return cmp.Compare(a.Partition, b.Partition) })
	n := r.maxListed(5)
	for i, f := range failed {
		if i == n {
			r.line("%s and %d more", bullet, len(failed)-n)
			break
		}
		r.line("%s %s: %s", bullet, r.code(f.Partition), r.esc(oneLine(f.Error, 200)))
	}
	keep := "The partitions that succeeded stay in staging"
	if e.StagingTable != "" {
		keep += " (" + r.table(e.StagingTable) + ")"
	}
	r.line("%s.", keep)
	// What helps depends on the kind of error: retry re-runs the query
	// recorded at the start, so it cannot fix a wrong query.
	kinds := make([]FailureKind, len(failed))
	for i, f := range failed {
		kinds[i] = f.Kind
	}
	advice := AdviseFailures(kinds, e.Table)
	retry := "bqbackfill retry " + e.Table
	for _, a := range advice {
		text := a.Text
		if len(advice) > 1 {
			text = a.Line()
		}
		r.line("%s", strings.ReplaceAll(r.esc(text), r.esc("'"+retry+"'"), r.code(retry)))
	}
}

func (r *renderer) rejected() {
	e := r.e
	r.headline("%s The backfill entry for %s%s was rejected and will not run:",
		r.emoji("no_entry"), r.code(e.Table), r.entry(false))
	n := r.maxListed(10)
	for i, v := range e.Errors {
		if i == n {
			r.line("%s and %d more", bullet, len(e.Errors)-n)
			break
		}
		rule := ""
		if v.Rule != "" {
			rule = r.code(v.Rule) + ": "
		}
		r.line("%s %s%s", bullet, rule, r.esc(oneLine(v.Message, 300)))
	}
	r.line("Fix the entry and push again.")
}

// comparison summarises the row counts of staging against production: how
// many partitions differ, the totals, and the biggest differences.
func (r *renderer) comparison() {
	c := r.e.Comparison
	if len(c) == 0 {
		return
	}
	var stagingTotal, prodTotal int64
	var changed []PartitionRows
	for _, p := range c {
		stagingTotal += p.StagingRows
		prodTotal += p.ProductionRows
		if p.StagingRows != p.ProductionRows {
			changed = append(changed, p)
		}
	}
	totals := fmt.Sprintf("%s → %s rows", thousands(prodTotal), thousands(stagingTotal))
	if stagingTotal != prodTotal {
		totals += " (" + signed(stagingTotal-prodTotal) + ")"
	}
	if len(changed) == 0 {
		r.line("Row counts, production → staging: equal in all %s (%s rows).",
			plural(len(c), "partition"), thousands(stagingTotal))
		return
	}
	verb := "differ"
	if len(changed) == 1 {
		verb = "differs"
	}
	r.line("Row counts, production → staging: %d of %s %s, %s.",
		len(changed), plural(len(c), "partition"), verb, totals)
	slices.SortStableFunc(changed, func(a, b PartitionRows) int {
		if d := cmp.Compare(abs(b.StagingRows-b.ProductionRows), abs(a.StagingRows-a.ProductionRows)); d != 0 {
			return d
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	n := r.maxListed(5)
	if len(changed) > n {
		r.line("Biggest differences:")
	}
	for i, p := range changed {
		if i == n {
			r.line("%s and %d more", bullet, len(changed)-n)
			break
		}
		note := ""
		switch {
		case p.ProductionRows == 0:
			note = ", new"
		case p.StagingRows == 0:
			note = ", empty in staging"
		}
		r.line("%s %s: %s → %s (%s%s)", bullet, r.code(p.Partition),
			thousands(p.ProductionRows), thousands(p.StagingRows), signed(p.StagingRows-p.ProductionRows), note)
	}
}

// LocalPart returns the part of a watcher before "@" (an email's local
// part, which bqetl mentions as the Slack user name), or a GitHub identity
// ("@org/team" or "org/team") without its leading "@".
func LocalPart(watcher string) string {
	w := strings.TrimSpace(watcher)
	if i := strings.Index(w, "@"); i > 0 {
		return w[:i]
	}
	return strings.TrimPrefix(w, "@")
}

// oneLine collapses whitespace and cuts s to max runes with an ellipsis.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(int64(n)) + " " + noun + "s"
}

// thousands formats n with comma separators: 1234567 -> "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func signed(n int64) string {
	if n > 0 {
		return "+" + thousands(n)
	}
	return thousands(n)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
