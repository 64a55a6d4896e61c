package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts share these rules: time is Redis's own (TIME), so replicas'
// clocks need not agree; a key of the wrong type, or a field that is not a
// number, is garbage: the script deletes the object's keys and returns -1
// as its first value, and the next round starts afresh. Every key expires
// when no replica has written it for a while, so a gone fleet leaves nothing
// behind. KEYS[1] is the object's hash, KEYS[2] the sorted set of the
// replicas seen lately (score: when, in ms).
const prelude = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function kind(k)
  local t = redis.call('TYPE', k)
  return t.ok or t
end
local function garbage()
  redis.call('DEL', KEYS[1], KEYS[2])
  return {-1}
end
local function field(name, default)
  local v = redis.call('HGET', KEYS[1], name)
  if not v then return default end
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end
local now = clock()
local h, z = kind(KEYS[1]), kind(KEYS[2])
if (h ~= 'hash' and h ~= 'none') or (z ~= 'zset' and z ~= 'none') then return garbage() end
local period = tonumber(ARGV[2])
local ttl = math.max(60000, 100 * period)
local function members()
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3 * period)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return redis.call('ZCARD', KEYS[2])
end
`

// budgetScript adds a replica's net tokens (ARGV[3], millionths, deposits
// minus withdrawals since its last round) to the fleet's, within
// [0, ARGV[4]], and returns the fleet's tokens and the replicas.
var budgetScript = goredis.NewScript(prelude + `
local burst = tonumber(ARGV[4])
local tok = field('t', burst)
if tok == nil then return garbage() end
tok = math.min(math.max(tok + tonumber(ARGV[3]), 0), burst)
redis.call('HSET', KEYS[1], 't', tok)
redis.call('PEXPIRE', KEYS[1], ttl)
return {math.floor(tok), members()}
`)

// limiterScript learns the fleet's rate and concurrency from the rounds of
// every replica. ARGV: 3 cuts (throttles since the replica's last round),
// 4 finished calls since then, 5 saturated (1: at least half its slots in
// use), 6 Beta, 7 Scale, 8 MinRate, 9 MaxConcurrency, 10 MinConcurrency,
// 11 Increase, 12 InitialRate, 13 Smooth, 14 the fleet's cuts the replica
// had applied when its throttles happened, 15 the replica's own rate (0:
// unpaced). The rate follows the CUBIC curve of a local Limiter, on the
// fleet's measured rate; a throttle
// anywhere cuts it, once per round: at most once a period, and only for a
// replica that already runs at the current cut's share (the throttles of
// one still at the old share are the same overload seen late, as a TCP
// sender ignores losses of segments sent before its last cut). It returns
// the rate (0: unpaced), the concurrency, both as strings (Lua numbers
// would be truncated), the replicas, and the cuts so far.
var limiterScript = goredis.NewScript(prelude + `
local cuts, finished, saturated = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local beta, scale, minRate = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local maxC, minC, inc = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local initial, smooth = tonumber(ARGV[12]), tonumber(ARGV[13])
local seen, own = tonumber(ARGV[14]), tonumber(ARGV[15])
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local rate, conc, w, cut = field('rate', 0), field('conc', maxC), field('w', 0), field('cut', 0)
local meas, ms, acc, grew = field('meas', 0), field('ms', now), field('acc', 0), field('grew', 0)
local cutn = field('cutn', 0)
if not (rate and conc and w and cut and meas and ms and acc and grew and cutn) then return garbage() end
-- C is relative to W, as in a local Limiter, so the fleet's curve is the
-- sum of its replicas' local curves at their shares: the fleet probes for
-- capacity as fast as its replicas would together, and differs from them
-- in cutting once, together.
local n = members()
local function cubicK() return ((1 - beta) / scale) ^ (1 / 3) end
if fresh and initial > 0 then
  rate, w = initial, initial
  cut = now - cubicK() * 1000
  meas = initial
end
acc = acc + finished
-- A first throttle before a bucket's width has passed reads the calls so
-- far over the full width, as a local Limiter does.
if now - ms >= 500 or (meas == 0 and cuts > 0) then
  local cur = acc / (math.max(now - ms, 500) / 1000)
  if meas == 0 then meas = cur else meas = smooth * cur + (1 - smooth) * meas end
  ms, acc = now, 0
end
if cuts > 0 and seen == cutn and now - cut >= period then
  local x = meas
  if cutn == 0 and own > 0 then
    -- The fleet's first measure may hold only this replica's first round;
    -- the replica's own cut measured its send rate, n of which are the
    -- fleet's.
    x = math.max(x, own / beta * n)
  end
  cutn = cutn + 1
  if rate > 0 and (x <= 0 or rate < x) then x = rate end
  if x <= 0 then x = conc end
  w, cut = x, now
  rate = math.max(x * beta, minRate)
  conc = math.max(conc * beta, minC)
elseif rate > 0 then
  -- Not capped at twice the measured rate, as a local Limiter is: the
  -- fleet's measure lags its replicas by a round and an average, and each
  -- replica's own Limiter still caps its share at twice what it sends.
  rate = math.max(scale * w * ((now - cut) / 1000 - cubicK()) ^ 3 + w, minRate)
end
if saturated and cuts == 0 and now - grew >= period and now - cut >= period then
  conc, grew = math.min(conc + inc, maxC), now
end
redis.call('HSET', KEYS[1], 'rate', rate, 'conc', conc, 'w', w, 'cut', cut,
  'meas', meas, 'ms', ms, 'acc', acc, 'grew', grew, 'cutn', cutn)
redis.call('PEXPIRE', KEYS[1], ttl)
return {tostring(rate), tostring(conc), n, cutn}
`)

// breakerScript keeps the fleet's breaker: its generation, whether it is
// open and until when, and which replica may probe. ARGV: 3 event (0 none,
// 1 the replica opened, 2 the replica closed), 4 how long the replica's own
// Open period has left (ms), 5 OpenFor (ms). An open is published only
// when the fleet is not already open, or its Open period has passed, or it
// comes from the prober itself: its probe failed and opened it again, which
// may be reported a moment before the fleet's own deadline, and an open
// dropped then would be lost (the replica reports each change once). The
// replica that publishes it is the only one that probes, so the fleet sends no more probes than one breaker
// would. A prober that does not report within OpenFor and two periods after
// the Open period ends loses its turn to the next replica that asks. A close
// counts once the Open period has passed (a close from before is stale). It
// returns the generation, 1 if open, the time left of the Open period (ms,
// may be negative), and 1 if this replica is the prober.
var breakerScript = goredis.NewScript(prelude + `
local event, left, openFor = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local gen, open, untl, pexp = field('gen', 0), field('open', 0), field('until', 0), field('pexp', 0)
if not (gen and open and untl and pexp) then return garbage() end
local prober = redis.call('HGET', KEYS[1], 'prober') or ''
if event == 1 and (open == 0 or now >= untl or prober == ARGV[1]) then
  gen, open, untl, prober = gen + 1, 1, now + left, ARGV[1]
  pexp = untl + openFor + 2 * period
elseif event == 2 and open == 1 and (now >= untl or prober == ARGV[1]) then
  gen, open = gen + 1, 0
elseif open == 1 and now >= untl and now >= pexp then
  prober, pexp = ARGV[1], now + openFor + 2 * period
end
redis.call('HSET', KEYS[1], 'gen', gen, 'open', open, 'until', untl, 'pexp', pexp, 'prober', prober)
redis.call('PEXPIRE', KEYS[1], ttl)
members()
local mine = 0
if prober == ARGV[1] then mine = 1 end
return {gen, open, untl - now, mine}
`)
