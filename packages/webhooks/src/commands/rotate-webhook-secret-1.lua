--[[
Rotates a tenant's generated signing secret: the current secret becomes the previous one, which
signs as well until the grace period ends.
KEYS: 1 the tenant's secret (hash). ARGV: 1 the new secret, 2 now ms, 3 grace ms.
]]
local current = redis.call('HGET', KEYS[1], 'current')
if current then
  redis.call('HSET', KEYS[1], 'previous', current, 'previous_until', tonumber(ARGV[2]) + tonumber(ARGV[3]))
end
redis.call('HSET', KEYS[1], 'current', ARGV[1])
return 1
