--[[
Claims due webhook events by pushing their score past the lease: another dispatcher takes them
over only once it lapses.
KEYS: 1 the webhook events. ARGV: 1 now ms, 2 lease ms, 3 limit.
Returns the claimed members.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local held = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', held, member) end
return due
