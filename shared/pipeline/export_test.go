package pipeline

// ForgetSpecs empties the process-wide spec cache, so that the next read
// of a spec goes to the ledger.
func ForgetSpecs() { specs.Clear() }

// OnUnitWaits has f told the step of each swap unit that must wait for a
// unit in flight to end before it starts, until restore.
func OnUnitWaits(f func(step string)) (restore func()) {
	unitWaits = f
	return func() { unitWaits = nil }
}

// FinishTurns is the number of backfills whose finish-check turn is held
// or waited for in this process.
func FinishTurns() int {
	finishingMu.Lock()
	defer finishingMu.Unlock()
	return len(finishing)
}
