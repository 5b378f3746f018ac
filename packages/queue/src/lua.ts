/**
 * The job store's Redis scripts. Each runs atomically; together they are the only writers of a
 * job's status. Keys other than KEYS[1] are derived from the hash tag passed as ARGV[1], so all
 * of them share one Cluster slot.
 */

/**
 * A webhook event (RedisKeys.webhookEvents), recorded by the step that causes it so that none is
 * ever lost; the webhook dispatcher turns it into deliveries. `id` and `now` are the script's.
 */
function webhookEvent(type: string): string {
  return `redis.call('ZADD', tag .. ':webhooks:events', 'NX', now, '${type} ' .. id .. ' ' .. now)`;
}

/**
 * The audit inbox: records of steps, pushed by the same script that makes the step, so that a
 * step is never taken without its record (AuditTrail.drain chains them into the trail). Each
 * item is `<status the job left>|<JSON>`; the status is empty for a new job.
 */
const AUDIT_INBOX = `tag .. ':audit:inbox'`;

/**
 * What a tenant (and each of its API keys) holds, for the submission quotas (SubmissionQuotas):
 * a hash per tenant, `<tag>:quota:<tenant>`, and per key, `<tag>:quota:<tenant>:key:<key name>`,
 * with `waiting` (jobs queued or awaiting approval) and `bytes` (what its jobs hold in the
 * store), kept by the scripts that create and move jobs marked `quota`. An ended job's bytes
 * leave once its record expires: `<tag>:quota-lapse:<tenant>` holds `<job id>|<bytes>|<key name>`
 * scored by that moment (ms), and the admission script takes them off.
 */
const COUNT_NEW_JOB = `
if f.quota == '1' then
  local q = tag .. ':quota:' .. f.tenant
  local size = #ARGV[2]
  redis.call('HSET', KEYS[1], 'stored_bytes', size)
  for _, h in ipairs({q, q .. ':key:' .. f.submitted_by}) do
    redis.call('HINCRBY', h, 'bytes', size)
    if f.status == 'queued' or f.status == 'awaiting_approval' then redis.call('HINCRBY', h, 'waiting', 1) end
  end
end
`;

/**
 * Entries a job's event stream keeps at most (approximately). Output is coalesced by the worker
 * (at most one entry per stream every few tens of ms, or per 32 KiB), so even a job that trickles
 * output for max_execution_time's ceiling stays far below it: nothing is trimmed in practice,
 * and the bound only guards Redis against the unforeseen.
 */
export const JOB_EVENTS_MAXLEN = 100_000;

/** A status event on the job's stream (`events`), and the word to readers waiting on it. */
const ADD_STATUS_EVENT = (events: string, data: string, extra = '') =>
  `redis.call('XADD', ${events}, 'MAXLEN', '~', ${JOB_EVENTS_MAXLEN}, '*', 'type', 'status', 'data', ${data}${extra})
redis.call('PUBLISH', ${events}, '')`;

/**
 * KEYS: job, idempotency key. ARGV: tag, fields (JSON object of strings), now ms, channel, use
 * idempotency ('1'|'0'), the job's first status event (JSON), then audit inbox items (JSON) to
 * push once the job is created. A job whose fields say `quota: '1'` is counted in its tenant's
 * and key's quota hashes.
 * Returns {outcome, job id}: created | exists (the key's job, same payload) | conflict (the key's
 * job has another payload_sha256).
 */
export const CREATE_JOB = `
local f = cjson.decode(ARGV[2])
if ARGV[5] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    local payload = redis.call('HGET', ARGV[1] .. ':job:' .. existing, 'payload_sha256')
    if payload and payload ~= f.payload_sha256 then return {'conflict', existing} end
    return {'exists', existing}
  end
end
local flat = {}
for k, v in pairs(f) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[1], unpack(flat))
local tag, id, now = ARGV[1], f.job_id, tonumber(ARGV[3])
if ARGV[5] == '1' then redis.call('SET', KEYS[2], id) end
if f.status == 'queued' then
  redis.call('ZADD', tag .. ':index:queued', now, id)
elseif f.status == 'awaiting_approval' then
  redis.call('ZADD', tag .. ':approval-deadlines', tonumber(f.approval_deadline), id)
  redis.call('ZADD', tag .. ':pending:' .. f.tenant, now, id)
  ${webhookEvent('job.awaiting_approval')}
end
if f.approval_id and f.approval_id ~= '' then redis.call('SET', tag .. ':approval:' .. f.approval_id, id) end
${COUNT_NEW_JOB}if f.batch_id and f.batch_id ~= '' then
  redis.call('HINCRBY', tag .. ':batch:' .. f.batch_id .. ':counts', f.status, 1)
  redis.call('RPUSH', tag .. ':batch:' .. f.batch_id .. ':jobs', id)
end
for i = 7, #ARGV do redis.call('RPUSH', ${AUDIT_INBOX}, '|' .. ARGV[i]) end
${ADD_STATUS_EVENT(`tag .. ':events:job:' .. id`, 'ARGV[6]')}
redis.call('PUBLISH', ARGV[4], id .. ' ' .. f.status)
return {'created', id}
`;

/**
 * KEYS: job. ARGV: tag, event, allowed from (comma-separated), to, now ms, ttl s, patch (JSON
 * object of strings), deadline guarded ('1'|'0'), terminal ('1'|'0'), channel, an audit inbox
 * item (JSON, or '') pushed only when the transition applies, the status event (JSON), and for a
 * terminal step the batch's job event (JSON without the counts, which the script adds).
 * The status event goes on the job's stream in the same step, so none is ever lost; a terminal
 * one is marked `ended` (readers add the result from the job) and the stream expires with the job.
 * Returns {outcome, previous status}: ok | missing | refused (status not in from) | late (deadline passed).
 */
export const TRANSITION_JOB = `
local job, tag = KEYS[1], ARGV[1]
local status = redis.call('HGET', job, 'status')
if not status then return {'missing', ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do
  if s == status then allowed = true end
end
if not allowed then return {'refused', status} end
local now = tonumber(ARGV[5])
if ARGV[8] == '1' then
  local deadline = tonumber(redis.call('HGET', job, 'approval_deadline') or '0') or 0
  if deadline > 0 and deadline <= now then return {'late', status} end
end
local to = ARGV[4]
local fields = {'status', to}
for k, v in pairs(cjson.decode(ARGV[7])) do fields[#fields + 1] = k; fields[#fields + 1] = v end
redis.call('HSET', job, unpack(fields))
if ARGV[2] == 'start' then redis.call('HINCRBY', job, 'attempts', 1) end
local id = redis.call('HGET', job, 'job_id')
redis.call('ZREM', tag .. ':index:' .. status, id)
if status == 'awaiting_approval' then
  redis.call('ZREM', tag .. ':approval-deadlines', id)
  redis.call('ZREM', tag .. ':pending:' .. redis.call('HGET', job, 'tenant'), id)
end
if to == 'queued' or to == 'running' then redis.call('ZADD', tag .. ':index:' .. to, now, id) end
local counted = redis.call('HMGET', job, 'quota', 'tenant', 'submitted_by', 'stored_bytes')
if counted[1] == '1' then
  local q = tag .. ':quota:' .. counted[2]
  local was = status == 'queued' or status == 'awaiting_approval'
  local is = to == 'queued' or to == 'awaiting_approval'
  local delta = 0
  if was and not is then delta = -1 elseif is and not was then delta = 1 end
  local grown = 0
  if ARGV[9] == '1' then grown = #ARGV[7] end
  for _, h in ipairs({q, q .. ':key:' .. counted[3]}) do
    if delta ~= 0 then redis.call('HINCRBY', h, 'waiting', delta) end
    if grown > 0 then redis.call('HINCRBY', h, 'bytes', grown) end
  end
  if ARGV[9] == '1' then
    local total = (tonumber(counted[4]) or 0) + grown
    redis.call('ZADD', tag .. ':quota-lapse:' .. counted[2], now + tonumber(ARGV[6]) * 1000, id .. '|' .. total .. '|' .. counted[3])
  end
end
local batch = redis.call('HGET', job, 'batch_id')
if batch and batch ~= '' then
  local counts = tag .. ':batch:' .. batch .. ':counts'
  redis.call('HINCRBY', counts, status, -1)
  redis.call('HINCRBY', counts, to, 1)
end
if ARGV[9] == '1' then
  ${webhookEvent('job.finished')}
  local ttl = tonumber(ARGV[6])
  redis.call('EXPIRE', job, ttl)
  local approval = redis.call('HGET', job, 'approval_id')
  if approval and approval ~= '' then redis.call('EXPIRE', tag .. ':approval:' .. approval, ttl) end
  local idem = redis.call('HGET', job, 'idempotency_ref')
  if idem and idem ~= '' then redis.call('EXPIRE', idem, ttl) end
end
if ARGV[11] and ARGV[11] ~= '' then redis.call('RPUSH', ${AUDIT_INBOX}, status .. '|' .. ARGV[11]) end
local events = tag .. ':events:job:' .. id
if ARGV[9] == '1' then
  ${ADD_STATUS_EVENT('events', 'ARGV[12]', ", 'ended', '1'")}
  redis.call('EXPIRE', events, tonumber(ARGV[6]))
else
  ${ADD_STATUS_EVENT('events', 'ARGV[12]')}
end
if batch and batch ~= '' then
  local batchEvents = tag .. ':events:batch:' .. batch
  if ARGV[9] == '1' then
    local raw, counts = redis.call('HGETALL', tag .. ':batch:' .. batch .. ':counts'), {}
    for i = 1, #raw, 2 do counts[raw[i]] = tonumber(raw[i + 1]) end
    redis.call('XADD', batchEvents, '*', 'data', ARGV[13], 'counts', cjson.encode(counts))
    -- Kept as long as the batch itself.
    local ttl = redis.call('TTL', tag .. ':batch:' .. batch)
    if ttl > 0 then redis.call('EXPIRE', batchEvents, ttl) end
  end
  redis.call('PUBLISH', batchEvents, '')
end
redis.call('PUBLISH', ARGV[10], id .. ' ' .. to)
return {'ok', status}
`;

/** KEYS: job. ARGV: worker id. Records where a queued job was put; nothing for a job that is not queued. */
export const PLACE_JOB = `
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'placed_on', ARGV[1])
return 1
`;

/**
 * KEYS: job, its event stream. ARGV: worker id, then pairs of type ('stdout'|'stderr') and data
 * (JSON). Appends a running job's output, only while the job runs on that worker: nothing lands
 * after the job's end event (a cancelled job's last output), nor from a worker that lost the job.
 * Returns 1 when appended, 0 when refused.
 */
export const APPEND_OUTPUT = `
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'worker_id') ~= ARGV[1] then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${JOB_EVENTS_MAXLEN}, '*', 'type', ARGV[i], 'data', ARGV[i + 1])
end
redis.call('PUBLISH', KEYS[2], '')
return 1
`;
