// Package redis shares a [backoff.Limiter], a [backoff.Breaker] and a
// [backoff.Budget] among every replica of a service, through Redis, so that
// a rate limit, a view of the downstream's health and a retry budget that
// are fleet-wide facts are learned once for the whole fleet.
//
// The hot paths stay local: each shared object wraps a local one, whose
// Allow/Done, Acquire/Done and TryWithdraw never touch the network. A
// background goroutine per object moves state to and from Redis twice a
// [Settings].Period, in one Lua script per round trip (EVALSHA, with EVAL
// when the script is not cached), because each round reads and writes
// several fields that must change together: a script runs atomically in
// Redis, and unlike MULTI/EXEC it can decide from what it reads (whether the
// fleet is already open, whether this round already cut the rate) without a
// second round trip or a WATCH that fails under contention.
//
// When Redis is slow, down, or holds garbage under the keys, each object
// goes on with its local state, says so through the Shared field of
// [Settings].Trace (a [backoff.Trace]), and shares again, saying so through
// it again with a nil error, when Redis answers. No
// call fails, waits or leaks because of Redis. Close stops the goroutine.
package redis
