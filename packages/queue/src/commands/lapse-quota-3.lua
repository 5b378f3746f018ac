--[[
Takes the bytes of ended jobs that have expired off their tenant's and API key's quotas: the due
lapses admit-submission handed back, those of one key at a time. A lapse another caller took off
first is not counted twice.
KEYS: 1 the tenant's quota hash, 2 the key's, 3 the tenant's quota lapses.
ARGV: 1 the key's name, 2... lapse members (`<job id>|<bytes>|<key name>`; one that cannot be read
is only removed).
Returns how many bytes left the quotas.
]]
local freed = 0
for i = 2, #ARGV do
  local member = ARGV[i]
  local _, _, size, owner = string.find(member, '^[^|]*|(%d+)|(.*)$')
  if not size then
    redis.call('ZREM', KEYS[3], member)
  elseif owner == ARGV[1] and redis.call('ZREM', KEYS[3], member) == 1 then
    redis.call('HINCRBY', KEYS[1], 'bytes', -tonumber(size))
    redis.call('HINCRBY', KEYS[2], 'bytes', -tonumber(size))
    freed = freed + tonumber(size)
  end
end
return freed
