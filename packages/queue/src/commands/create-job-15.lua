--[[
Stores a new job, with what it joins in the same step: the status index or the approvals waiting,
its approval, its batch, the quotas of its tenant and API key, its audit records and its first
status event.

KEYS: 1 the job, 2 the tenant's idempotency key (or unused), 3 the job that key named when the
caller last looked (or unused), 4 the queued jobs' index, 5 the approval deadlines, 6 the tenant's
pending approvals, 7 the webhook events, 8 the job's approval (or unused), 9 the tenant's quota
hash, 10 its API key's, 11 the batch's counts and 12 its jobs (or unused), 13 the audit inbox,
14 the job's event stream, 15 the tenant's webhook subscriptions.
ARGV: 1 fields (JSON object of strings), 2 now ms, 3 the status channel, 4 use the idempotency key
('1'|'0'), 5 the job id the caller expects under it ('' none), 6 the job's first status event
(JSON), 7 entries an event stream keeps at most, 8... audit inbox items (JSON).

A job's webhook event (job.awaiting_approval) is recorded only when someone may want it: the job
does not say `webhooks: 'false'` (it says 'true' for a callback_url or subscriptions in the
configuration) or the tenant has subscriptions stored. The status channel's message says so (flag `w`), and whether the job has an
approval (flag `a`), so that listeners read only the jobs that concern them; a job with neither is
not announced there (see transition-job).
A job whose fields say `quota: '1'` is counted in its tenant's and key's quota hashes: as waiting
while queued or awaiting approval, and by the bytes of its fields (`stored_bytes`).
Returns {outcome, job id}: created | exists (the key's job, same payload) | conflict (the key's
job has another payload_sha256) | retry (the key names another job than the caller expected:
call again, expecting that one).
]]
local f = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local flags = ''
if f.approval_id and f.approval_id ~= '' then flags = 'a' end
if ARGV[4] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    if existing ~= ARGV[5] then return {'retry', existing} end
    local payload = redis.call('HGET', KEYS[3], 'payload_sha256')
    if payload and payload ~= f.payload_sha256 then return {'conflict', existing} end
    return {'exists', existing}
  end
end
local flat = {}
for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[1], unpack(flat))
local id = f.job_id
if ARGV[4] == '1' then redis.call('SET', KEYS[2], id) end
if f.status == 'queued' then
  redis.call('ZADD', KEYS[4], now, id)
elseif f.status == 'awaiting_approval' then
  redis.call('ZADD', KEYS[5], tonumber(f.approval_deadline), id)
  redis.call('ZADD', KEYS[6], now, id)
  -- The webhook event, recorded by the step that causes it so that none is ever lost.
  if f.webhooks ~= 'false' or redis.call('EXISTS', KEYS[15]) == 1 then
    redis.call('ZADD', KEYS[7], 'NX', now, 'job.awaiting_approval ' .. id .. ' ' .. now)
    flags = flags .. 'w'
  end
end
if f.approval_id and f.approval_id ~= '' then redis.call('SET', KEYS[8], id) end
if f.quota == '1' then
  local size = #ARGV[1]
  redis.call('HSET', KEYS[1], 'stored_bytes', size)
  local waiting = f.status == 'queued' or f.status == 'awaiting_approval'
  redis.call('HINCRBY', KEYS[9], 'bytes', size)
  if waiting then redis.call('HINCRBY', KEYS[9], 'waiting', 1) end
  redis.call('HINCRBY', KEYS[10], 'bytes', size)
  if waiting then redis.call('HINCRBY', KEYS[10], 'waiting', 1) end
end
if f.batch_id and f.batch_id ~= '' then
  redis.call('HINCRBY', KEYS[11], f.status, 1)
  redis.call('RPUSH', KEYS[12], id)
end
for i = 8, #ARGV do redis.call('RPUSH', KEYS[13], '|' .. ARGV[i]) end
redis.call('XADD', KEYS[14], 'MAXLEN', '~', ARGV[7], '*', 'type', 'status', 'data', ARGV[6])
redis.call('PUBLISH', KEYS[14], '')
if flags ~= '' then redis.call('PUBLISH', ARGV[3], id .. ' ' .. f.status .. ' ' .. flags) end
return {'created', id}
