--[[
Appends a running job's output, only while the job runs on the given worker: nothing lands after
the job's end event (a cancelled job's last output), nor from a worker that lost the job.
KEYS: 1 the job, 2 its event stream. ARGV: 1 the worker id, 2 entries the stream keeps at most,
3... pairs of type ('stdout'|'stderr') and data (JSON).
Returns 1 when appended, 0 when refused.
]]
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'worker_id') ~= ARGV[1] then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', ARGV[i], 'data', ARGV[i + 1])
end
redis.call('PUBLISH', KEYS[2], '')
return 1
