package notify

import (
	"cmp"
	"slices"
)

// PartitionWarning is a failed #warn data check of one partition.
type PartitionWarning struct {
	Partition string `json:"partition"`
	Warning   string `json:"warning"`
}

// checkWarnings lists the failed #warn data checks of a "done" event.
func (r *renderer) checkWarnings() {
	ws := slices.Clone(r.e.Warnings)
	if len(ws) == 0 {
		return
	}
	slices.SortStableFunc(ws, func(a, b PartitionWarning) int { return cmp.Compare(a.Partition, b.Partition) })
	r.line("%s Data checks warned (#warn, not blocking) on %s:", r.emoji("warning"), plural(len(ws), "check run"))
	n := r.maxListed(5)
	for i, w := range ws {
		if i == n {
			r.line("%s and %d more", bullet, len(ws)-n)
			break
		}
		r.line("%s %s: %s", bullet, r.code(w.Partition), r.esc(oneLine(w.Warning, 300)))
	}
}

// profileChanges lists the largest staging-vs-production changes.
func (r *renderer) profileChanges() {
	if len(r.e.Changes) == 0 {
		return
	}
	r.line("Largest changes, production → staging:")
	for _, c := range r.e.Changes {
		r.line("%s %s", bullet, r.esc(c))
	}
}
