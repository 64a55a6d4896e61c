package sim

import "time"

// queue is a min-heap of events ordered by (at, seq): events at the same
// instant come out in the order they were pushed, so a run never depends on
// how the heap happens to break ties. It is not safe for concurrent use; each
// run owns one.
type queue[E any] struct {
	items []item[E]
	seq   uint64
}

type item[E any] struct {
	at  time.Duration
	seq uint64
	ev  E
}

func (q *queue[E]) len() int { return len(q.items) }

func (q *queue[E]) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// push schedules ev at time at.
func (q *queue[E]) push(at time.Duration, ev E) {
	q.seq++
	q.items = append(q.items, item[E]{at: at, seq: q.seq, ev: ev})
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *queue[E]) pop() (time.Duration, E) {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top.at, top.ev
}
