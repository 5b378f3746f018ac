--[[
A task failed: puts it back, due after its backoff. The retry reads the state afresh, so a
pending "again" is dropped.
KEYS: 1 the outbox, 2 the leases, 3 the tasks asked for again, 4 the failed attempts.
ARGV: 1 task, 2 due ms.
]]
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 'ok'
