--[[
A task succeeded: it leaves the outbox, unless it was asked for again while it ran (then it is
due again now).
KEYS: 1 the outbox, 2 the leases, 3 the tasks asked for again, 4 the failed attempts.
ARGV: 1 task, 2 now ms.
Returns 'again' or 'done'.
]]
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 'again'
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 'done'
