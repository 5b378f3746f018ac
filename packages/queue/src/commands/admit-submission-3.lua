--[[
Admits a submission against its tenant's (and, where configured, its API key's) quotas: checks
each scope's waiting jobs, stored bytes and token bucket, and takes the tokens only when every
check passed. Bytes of ended jobs leave the quotas once the jobs expire: while some are due, the
first call hands them back instead, for lapse-quota to take off, and the caller then admits again.
KEYS: 1 the tenant's quota hash, 2 its API key's, 3 the tenant's quota lapses.
ARGV: 1 now ms, 2 jobs, 3 bytes, 4 whether the key has limits of its own ('1'|'0'), 5 the key's
name, 6 lapses looked at per call, 7 hand back lapses due ('1'|'0'), 8-11 the tenant's rate,
burst, max waiting and max bytes, 12-15 the key's (each '' when not set).
Returns {'lapsed', member, its key's name, ...} (the name '' for a member it cannot read), {'ok'},
or the first refusal: {'waiting', scope, limit, held}, {'bytes', scope, limit, held, ms until
enough lapse or ''}, {'burst', scope, burst}, {'rate', scope, rate, ms until enough tokens}.
]]
local now, n, bytes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local name, perCall = ARGV[5], tonumber(ARGV[6])
if ARGV[7] == '1' then
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, perCall)
  if #due > 0 then
    local out = {'lapsed'}
    for _, member in ipairs(due) do
      local _, _, size, owner = string.find(member, '^[^|]*|(%d+)|(.*)$')
      out[#out + 1] = member
      out[#out + 1] = size and owner or ''
    end
    return out
  end
end
-- Each scope: its name, the index of its hash in KEYS, the first ARGV of its limits.
local scopes = {{'tenant', 1, 8}}
if ARGV[4] == '1' then scopes[2] = {'key', 2, 12} end
local buckets = {}
for _, s in ipairs(scopes) do
  local scope, key, base = s[1], s[2], s[3]
  local rate, burst = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local maxWaiting, maxBytes = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local state = redis.call('HMGET', KEYS[key], 'waiting', 'bytes', 'tokens', 'ts')
  local waiting, held = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if maxWaiting and waiting + n > maxWaiting then
    return {'waiting', scope, tostring(maxWaiting), tostring(waiting)}
  end
  if maxBytes and held + bytes > maxBytes then
    local need, freed, at = held + bytes - maxBytes, 0, ''
    local entries = redis.call('ZRANGE', KEYS[3], 0, perCall, 'WITHSCORES')
    for i = 1, #entries, 2 do
      local _, _, size, owner = string.find(entries[i], '^[^|]*|(%d+)|(.*)$')
      if size and (scope == 'tenant' or owner == name) then
        freed = freed + tonumber(size)
        if freed >= need then at = tostring(math.max(0, tonumber(entries[i + 1]) - now)); break end
      end
    end
    return {'bytes', scope, tostring(maxBytes), tostring(held), at}
  end
  if rate and burst then
    if n > burst then return {'burst', scope, tostring(burst)} end
    local tokens, ts = tonumber(state[3]) or burst, tonumber(state[4]) or now
    tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
    if tokens < n then return {'rate', scope, tostring(rate), tostring(math.ceil((n - tokens) * 1000 / rate))} end
    buckets[#buckets + 1] = {key, tokens - n}
  end
end
for _, b in ipairs(buckets) do redis.call('HSET', KEYS[b[1]], 'tokens', tostring(b[2]), 'ts', tostring(now)) end
return {'ok'}
