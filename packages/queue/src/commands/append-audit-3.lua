--[[
Appends records to the audit trail, takes the inbox items they stand for off the inbox and moves
the head, only if neither the head nor the inbox's front moved since they were read; otherwise
returns the head as it is now, for the caller to read and chain again. Atomic, so concurrent
writers never fork the chain, and no inbox item is chained twice.
KEYS: 1 the trail (stream), 2 its head, 3 the audit inbox.
ARGV: 1 the head hash the records were chained to ('' for an empty trail), 2 how many inbox items
they stand for ('0' for records appended directly), 3 the first of those items, 4... (record,
hash) pairs.
Returns {'ok', stream ids...} or {'moved', head hash, head seq}.
]]
local current = redis.call('HGET', KEYS[2], 'hash') or ''
local taken = tonumber(ARGV[2])
if current ~= ARGV[1] or (taken > 0 and redis.call('LINDEX', KEYS[3], 0) ~= ARGV[3]) then
  return {'moved', current, redis.call('HGET', KEYS[2], 'seq') or '0'}
end
local out = {'ok'}
local last = current
for i = 4, #ARGV, 2 do
  out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'record', ARGV[i], 'hash', ARGV[i + 1])
  last = ARGV[i + 1]
end
if taken > 0 then redis.call('LTRIM', KEYS[3], taken, -1) end
if #ARGV > 3 then
  redis.call('HINCRBY', KEYS[2], 'seq', (#ARGV - 3) / 2)
  redis.call('HSET', KEYS[2], 'hash', last)
end
return out
