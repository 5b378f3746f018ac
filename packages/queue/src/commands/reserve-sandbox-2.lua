--[[
Holds a place for a kept sandbox being made when the tenant holds fewer than its quota, counting
the places held and not lapsed.
KEYS: 1 the tenant's sandboxes, 2 its reservations. ARGV: 1 reservation id, 2 quota, 3 now ms,
4 lapse ms.
Returns 1, or 0 when the quota is used up.
]]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local held = redis.call('SCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if held >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
