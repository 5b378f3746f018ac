--[[
Stores a subscription made through the API, unless the tenant has as many as allowed.
KEYS: 1 the tenant's subscriptions (hash). ARGV: 1 id, 2 JSON, 3 most allowed.
Returns 1, or 0 when the tenant has as many as allowed.
]]
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
