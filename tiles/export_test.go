package tiles

// FlowListsComputed returns how many flow lists e has computed.
func FlowListsComputed(e *Engine) int64 { return e.flowRuns.Load() }

// AggregateCallers returns how many callers wait for e's aggregates being
// computed.
func AggregateCallers(e *Engine) int {
	s := e.aggs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c.refs
	}
	return n
}
