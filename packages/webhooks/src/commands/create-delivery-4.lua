--[[
Writes a delivery unless it exists, indexed among the tenant's deliveries (all and pending) and
as due now.
KEYS: 1 the delivery, 2 the tenant's index of all deliveries, 3 its pending ones, 4 the due index.
ARGV: 1 fields (JSON of strings), 2 now ms, 3 ttl s, 4 oldest kept ms.
Returns {created|exists, state, round}.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if state then return {'exists', state, redis.call('HGET', KEYS[1], 'round') or '0'} end
local f = cjson.decode(ARGV[1])
local flat = {}
for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
local now = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now, f.delivery_id)
redis.call('ZADD', KEYS[3], now, f.delivery_id)
redis.call('ZADD', KEYS[4], now, f.delivery_id)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
return {'created', f.state, '0'}
