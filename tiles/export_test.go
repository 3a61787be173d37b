package tiles

// FlowListsComputed returns how many flow lists e has computed.
func FlowListsComputed(e *Engine) int64 { return e.flowRuns.Load() }
