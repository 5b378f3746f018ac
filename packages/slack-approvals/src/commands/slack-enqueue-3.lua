--[[
Asks for a delivery task: adds it when it is not waiting already; one being run (its lease not
over) is marked to run once more afterwards.
KEYS: 1 the outbox, 2 the leases, 3 the tasks asked for again. ARGV: 1 task, 2 due ms, 3 now ms.
Returns 'added', 'queued' (waiting already) or 'again'.
]]
local lease = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if lease > tonumber(ARGV[3]) then
  redis.call('SADD', KEYS[3], ARGV[1])
  return 'again'
end
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 1 then return 'added' end
return 'queued'
