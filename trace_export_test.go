package backoff

// SetContextTraces sets whether Retry and Transport look for a
// ContextWithTrace trace, for the benchmarks that measure that lookup: the
// first ContextWithTrace turns it on for the whole process.
func SetContextTraces(on bool) { contextTraces.Store(on) }

// ComposeTraces is composeTraces, which nested ContextWithTrace calls use,
// for the tests of each field's composition.
func ComposeTraces(a, b *Trace) *Trace { return composeTraces(a, b) }
