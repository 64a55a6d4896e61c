// Package sim holds the simulations behind bench/RESULTS.md: the contention
// simulation of the AWS jitter blog ([RunContention], [ContentionSweep]) and
// the outage simulation of a server that stalls ([RunOutage],
// [OutageSweep]), both deterministic discrete-event runs on a heap ordered
// by (time, sequence number) that call the backoff library's own strategies,
// budget, breaker and Adaptive; and the plots of their results.
// cmd/simulate is its command line.
package sim
