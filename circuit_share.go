package backoff

import "time"

// BreakerStatus is a snapshot of a [Breaker], for state shared beyond one
// process (module github.com/backoff-go/backoff/redis).
type BreakerStatus struct {
	State State
	// Gen changes with every change of state, and on Reset and Hold; a
	// reader that remembers it can tell whether anything happened since.
	Gen uint32
	// OpenLeft is the time left of the Open period, while Open.
	OpenLeft time.Duration
}

// Status returns the breaker's state, its generation, and the time left of
// its Open period. Like State, it turns an Open breaker whose period has
// passed HalfOpen.
func (b *Breaker) Status() BreakerStatus {
	b.State() // an Open period that has passed becomes HalfOpen first
	b.mu.Lock()
	w := b.word.Load()
	st := BreakerStatus{State: stateOf(w), Gen: uint32(w >> genShift)}
	if st.State == Open {
		st.OpenLeft = time.Duration(max(b.openUntil.Load()-b.now(), 0))
	}
	b.mu.Unlock()
	return st
}

// Hold puts the breaker in state s (Open or Closed) because another process
// said so, if its generation is still gen (from Status): a change made
// since is newer news, and Hold then changes nothing and reports false. It
// returns the status after. Open lasts d from now: an Open breaker only has
// its deadline moved (it may be brought nearer), keeping its generation and
// calling no OnStateChange; any other state opens, as Trip does. Closed
// closes, as Reset does; an already Closed breaker keeps its counts.
// HalfOpen is no state to hold: Hold(gen, HalfOpen, d) changes nothing and
// reports false.
func (b *Breaker) Hold(gen uint32, s State, d time.Duration) (BreakerStatus, bool) {
	b.ensure()
	b.mu.Lock()
	t := b.now()
	changed, held := false, false
	if w := b.word.Load(); uint32(w>>genShift) == gen && (s == Open || s == Closed) {
		held = true
		switch cur := stateOf(w); {
		case s == Open && cur == Open:
			b.openUntil.Store(addSat(t, int64(max(d, 0))))
		case s == Open:
			changed = b.setLocked(Open, t, tracer{})
			b.openUntil.Store(addSat(t, int64(max(d, 0))))
		case s == Closed && cur != Closed:
			changed = b.setLocked(Closed, t, tracer{})
		}
	}
	w := b.word.Load()
	st := BreakerStatus{State: stateOf(w), Gen: uint32(w >> genShift)}
	if st.State == Open {
		st.OpenLeft = time.Duration(max(b.openUntil.Load()-t, 0))
	}
	b.mu.Unlock()
	if changed {
		b.deliver()
	}
	return st, held
}

// OpenFor returns the Open period in force: OpenFor, or what failed probes
// have grown it to under MaxOpenFor.
func (b *Breaker) OpenFor() time.Duration {
	b.ensure()
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Duration(b.period)
}

// HalfOpenProbes returns how many probes HalfOpen admits at once.
func (b *Breaker) HalfOpenProbes() int {
	b.ensure()
	return b.maxProbes
}
