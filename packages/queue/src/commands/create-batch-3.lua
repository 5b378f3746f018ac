--[[
Claims the idempotency key (when there is one) and writes the batch, in one step.
KEYS: 1 the batch, 2 the tenant's idempotency key (or unused), 3 the batch that key named when
the caller last looked (or unused).
ARGV: 1 ttl s, 2 use the idempotency key ('1'|'0'), 3 fields (JSON object of strings), 4 the batch
id the caller expects under the key ('' none).
Returns {outcome, batch id}: created | exists (the key's batch, same jobs) | conflict (the key's
batch has another payload_sha256) | retry (the key names another batch than the caller expected:
call again, expecting that one).
]]
local f = cjson.decode(ARGV[3])
if ARGV[2] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    if existing ~= ARGV[4] then return {'retry', existing} end
    local payload = redis.call('HGET', KEYS[3], 'payload_sha256')
    if payload and payload ~= f.payload_sha256 then return {'conflict', existing} end
    return {'exists', existing}
  end
  redis.call('SET', KEYS[2], f.batch_id, 'EX', ARGV[1])
end
local flat = {}
for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {'created', f.batch_id}
