--[[
Takes due tasks, holding each for the lease.
KEYS: 1 the outbox, 2 the leases, 3 the failed attempts. ARGV: 1 now ms, 2 lease ms, 3 limit.
Returns task, attempts, task, attempts, ...
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local held = tonumber(ARGV[1]) + tonumber(ARGV[2])
local out = {}
for _, task in ipairs(due) do
  redis.call('ZADD', KEYS[1], held, task)
  redis.call('HSET', KEYS[2], task, held)
  out[#out + 1] = task
  out[#out + 1] = redis.call('HGET', KEYS[3], task) or '0'
end
return out
