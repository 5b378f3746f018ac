--[[
Changes a delivery only from the expected state, moving it between the tenant's indexes of its
states.
KEYS: 1 the delivery, 2 the due index, 3... the tenant's index of each state, in the order of the
states' names in ARGV[8...].
ARGV: 1 expected state ('' any), 2 new state, 3 patch (JSON of strings), 4 now ms, 5 ttl s,
6 oldest kept ms, 7 due ms ('' not due), 8... the states' names.
Returns 1, or 0 when refused.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
if ARGV[1] ~= '' and state ~= ARGV[1] then return 0 end
-- Each state's index in KEYS.
local index = {}
for i = 8, #ARGV do index[ARGV[i]] = i - 5 end
if not index[ARGV[2]] then return redis.error_reply('unknown delivery state ' .. ARGV[2]) end
local fields = {'state', ARGV[2]}
for k, v in pairs(cjson.decode(ARGV[3])) do fields[#fields + 1] = k; fields[#fields + 1] = v end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
local id = redis.call('HGET', KEYS[1], 'delivery_id')
if state ~= ARGV[2] then
  if index[state] then redis.call('ZREM', KEYS[index[state]], id) end
  redis.call('ZADD', KEYS[index[ARGV[2]]], tonumber(ARGV[4]), id)
  redis.call('ZREMRANGEBYSCORE', KEYS[index[ARGV[2]]], '-inf', '(' .. ARGV[6])
end
if ARGV[7] == '' then redis.call('ZREM', KEYS[2], id) else redis.call('ZADD', KEYS[2], tonumber(ARGV[7]), id) end
return 1
