--[[
Records the worker whose queue a queued job was put on; nothing for a job that is not queued.
KEYS: 1 the job. ARGV: 1 the worker id. Returns 1 when recorded, else 0.
]]
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'placed_on', ARGV[1])
return 1
