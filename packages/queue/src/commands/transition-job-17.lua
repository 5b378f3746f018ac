--[[
Applies one lifecycle event to a job, atomically: nothing happens unless the job is in one of the
event's allowed statuses (and, for a deadline-guarded event, before its approval deadline). The
step's audit record goes to the audit inbox and its status event to the job's event stream in the
same step, so none is ever lost; a terminal one is marked `ended` (readers add the result from the
job), and the job, its approval, its idempotency key and its stream then expire together.

KEYS: 1 the job, 2 the queued and 3 the running jobs' indexes, 4 the approval deadlines, 5 the
tenant's pending approvals, 6 the tenant's quota hash, 7 its API key's, 8 the tenant's quota
lapses, 9 the batch's counts, 10 the batch and 11 its event stream (or unused), 12 the webhook
events, 13 the approval (or unused), 14 the idempotency key (or unused), 15 the audit inbox,
16 the job's event stream, 17 the tenant's webhook subscriptions.
ARGV: 1 event, 2 allowed from (comma-separated), 3 to, 4 now ms, 5 ttl s, 6 patch (JSON object of
strings), 7 deadline guarded ('1'|'0'), 8 terminal ('1'|'0'), 9 the status channel, 10 an audit
inbox item (JSON, or '') pushed only when the transition applies, 11 the status event (JSON),
12 for a terminal step the batch's job event (JSON without the counts, which the script adds),
13 entries an event stream keeps at most, then the job's fields the keys were built from: 14 tenant,
15 submitted_by, 16 batch_id, 17 approval_id, 18 idempotency_ref; 19 the worker the job must run on
for the step to apply (or '' for any: a worker's own steps name it, so that one which lost the job
cannot end another's run of it), 20 answer the job's fields as the step left them ('1'|'0'), 21 the
attempts the job must have made before the step (or '' for any: a worker's start names those its
queue entry was made for, and its end those of its own run, so that no step of one attempt is
taken for another's), then pairs of type ('stdout'|'stderr') and data (JSON): the job's last
output, appended before the step's status event when the step applies.

A terminal step records the job.finished webhook event only when someone may want it: the job
does not say `webhooks: 'false'` (it says 'true' for a callback_url, its batch's, or subscriptions
in the configuration; a job stored before the field existed says nothing) or the tenant has
subscriptions stored. The status channel's message is `<id> <status> <flags>`: `a` when
the job has an approval, `w` when the step recorded a webhook event. It goes out only when someone
listens for it: at a job's end, and at each step of a job with a flag. The other steps (a job
without an approval starting) concern nobody, and each message wakes every process of the fleet.

Returns {outcome, previous status}: ok | missing | refused (status not in from) | late (deadline
passed) | moved (the job's fields are not those the keys were built from: read them again); with
ARGV 20, an applied step adds the job's fields (HGETALL).
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
local built = redis.call('HMGET', KEYS[1], 'tenant', 'submitted_by', 'batch_id', 'approval_id', 'idempotency_ref')
for i = 1, 5 do
  if (built[i] or '') ~= ARGV[13 + i] then return {'moved', status} end
end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == status then allowed = true end
end
if not allowed then return {'refused', status} end
if ARGV[19] ~= '' and redis.call('HGET', KEYS[1], 'worker_id') ~= ARGV[19] then return {'refused', status} end
if ARGV[21] ~= '' and (tonumber(redis.call('HGET', KEYS[1], 'attempts')) or 0) ~= tonumber(ARGV[21]) then
  return {'refused', status}
end
local now = tonumber(ARGV[4])
if ARGV[7] == '1' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'approval_deadline') or '0') or 0
  if deadline > 0 and deadline <= now then return {'late', status} end
end
local to, terminal, ttl = ARGV[3], ARGV[8] == '1', tonumber(ARGV[5])
local fields = {'status', to}
for k, v in pairs(cjson.decode(ARGV[6])) do fields[#fields + 1] = k; fields[#fields + 1] = v end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[1] == 'start' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
local id = redis.call('HGET', KEYS[1], 'job_id')
-- Only queued and running jobs are indexed.
if status == 'queued' then
  redis.call('ZREM', KEYS[2], id)
elseif status == 'running' then
  redis.call('ZREM', KEYS[3], id)
elseif status == 'awaiting_approval' then
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[5], id)
end
if to == 'queued' then
  redis.call('ZADD', KEYS[2], now, id)
elseif to == 'running' then
  redis.call('ZADD', KEYS[3], now, id)
end
local counted = redis.call('HMGET', KEYS[1], 'quota', 'stored_bytes')
if counted[1] == '1' then
  local was = status == 'queued' or status == 'awaiting_approval'
  local is = to == 'queued' or to == 'awaiting_approval'
  local delta = 0
  if was and not is then delta = -1 elseif is and not was then delta = 1 end
  local grown = 0
  if terminal then grown = #ARGV[6] end
  if delta ~= 0 then
    redis.call('HINCRBY', KEYS[6], 'waiting', delta)
    redis.call('HINCRBY', KEYS[7], 'waiting', delta)
  end
  if grown > 0 then
    redis.call('HINCRBY', KEYS[6], 'bytes', grown)
    redis.call('HINCRBY', KEYS[7], 'bytes', grown)
  end
  if terminal then
    -- Its bytes leave the quotas when the job expires (see admit-submission and lapse-quota).
    local total = (tonumber(counted[2]) or 0) + grown
    redis.call('ZADD', KEYS[8], now + ttl * 1000, id .. '|' .. total .. '|' .. ARGV[15])
  end
end
local batched = ARGV[16] ~= ''
if batched then
  redis.call('HINCRBY', KEYS[9], status, -1)
  redis.call('HINCRBY', KEYS[9], to, 1)
end
local flags = ''
if ARGV[17] ~= '' then flags = 'a' end
if terminal then
  -- The webhook event, recorded by the step that causes it so that none is ever lost.
  if redis.call('HGET', KEYS[1], 'webhooks') ~= 'false' or redis.call('EXISTS', KEYS[17]) == 1 then
    redis.call('ZADD', KEYS[12], 'NX', now, 'job.finished ' .. id .. ' ' .. now)
    flags = flags .. 'w'
  end
  redis.call('EXPIRE', KEYS[1], ttl)
  if ARGV[17] ~= '' then redis.call('EXPIRE', KEYS[13], ttl) end
  if ARGV[18] ~= '' then redis.call('EXPIRE', KEYS[14], ttl) end
end
if ARGV[10] ~= '' then redis.call('RPUSH', KEYS[15], status .. '|' .. ARGV[10]) end
for i = 22, #ARGV, 2 do
  redis.call('XADD', KEYS[16], 'MAXLEN', '~', ARGV[13], '*', 'type', ARGV[i], 'data', ARGV[i + 1])
end
if terminal then
  redis.call('XADD', KEYS[16], 'MAXLEN', '~', ARGV[13], '*', 'type', 'status', 'data', ARGV[11], 'ended', '1')
  redis.call('PUBLISH', KEYS[16], '')
  redis.call('EXPIRE', KEYS[16], ttl)
else
  redis.call('XADD', KEYS[16], 'MAXLEN', '~', ARGV[13], '*', 'type', 'status', 'data', ARGV[11])
  redis.call('PUBLISH', KEYS[16], '')
end
if batched then
  if terminal then
    local raw, counts = redis.call('HGETALL', KEYS[9]), {}
    for i = 1, #raw, 2 do counts[raw[i]] = tonumber(raw[i + 1]) end
    redis.call('XADD', KEYS[11], '*', 'data', ARGV[12], 'counts', cjson.encode(counts))
    -- Kept as long as the batch itself.
    local batchTtl = redis.call('TTL', KEYS[10])
    if batchTtl > 0 then redis.call('EXPIRE', KEYS[11], batchTtl) end
  end
  redis.call('PUBLISH', KEYS[11], '')
end
if terminal or flags ~= '' then redis.call('PUBLISH', ARGV[9], id .. ' ' .. to .. ' ' .. flags) end
if ARGV[20] == '1' then return {'ok', status, redis.call('HGETALL', KEYS[1])} end
return {'ok', status}
