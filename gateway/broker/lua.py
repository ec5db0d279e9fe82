"""The Lua scripts of ``RedisBroker``: each is one atomic round trip (rules in the package docstring).

Conventions: a lease's value is ``<node_id>|<token>``; ``keep`` is the retention (ms) of
a truck's state, history and fence keys, extended on every publish and renew so a truck
still being read never loses its state, while an abandoned one disappears by itself.
Interest expiries use the server's clock (``TIME``) so nodes' clocks may disagree.
"""

from __future__ import annotations

# KEYS: (lease, fence) per truck. ARGV: node_id, ttl_ms, keep_ms.
# Returns {position, token, ...} (1-based) of the trucks held by this node afterwards.
ACQUIRE = """
local node, ttl, keep = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 1, #KEYS, 2 do
  local cur = redis.call('GET', KEYS[i])
  local token = nil
  if not cur then
    token = redis.call('INCR', KEYS[i + 1])
    redis.call('PEXPIRE', KEYS[i + 1], keep)
    redis.call('SET', KEYS[i], node .. '|' .. token, 'PX', ttl)
  else
    local sep = string.find(cur, '|', 1, true)
    if sep and string.sub(cur, 1, sep - 1) == node then
      -- Already ours (e.g. a retried call): same token, fresh expiry.
      token = tonumber(string.sub(cur, sep + 1))
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
  if token then
    out[#out + 1] = (i + 1) / 2
    out[#out + 1] = token
  end
end
return out
"""

# KEYS: (lease, state, hist, fence) per truck. ARGV: node_id, ttl_ms, keep_ms, token...
# Returns the 1-based positions of the leases still ours (value == node|token).
RENEW = """
local node, ttl, keep = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for j = 1, #KEYS / 4 do
  local k = (j - 1) * 4
  if redis.call('GET', KEYS[k + 1]) == node .. '|' .. ARGV[3 + j] then
    redis.call('PEXPIRE', KEYS[k + 1], ttl)
    redis.call('PEXPIRE', KEYS[k + 2], keep)
    redis.call('PEXPIRE', KEYS[k + 3], keep)
    redis.call('PEXPIRE', KEYS[k + 4], keep)
    out[#out + 1] = j
  end
end
return out
"""

# KEYS: lease per truck. ARGV: node_id, token... Deletes only leases still ours.
RELEASE = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] .. '|' .. ARGV[1 + i] then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n
"""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: interest per truck, then the watched index. ARGV: node_id, ttl_ms, truck...
# Member score = expiry (server ms); expired members are purged and the key expires with
# its latest member. The watched index keeps, per truck, the latest expiry of any node.
REFRESH_INTEREST = _NOW + """
local expiry = string.format('%.0f', now + tonumber(ARGV[2]))
local n = #KEYS - 1
local watched = KEYS[#KEYS]
for i = 1, n do
  redis.call('ZADD', KEYS[i], expiry, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', tonumber(top[2])))
  redis.call('ZADD', watched, 'GT', expiry, ARGV[2 + i])
end
if n > 0 then
  redis.call('ZREMRANGEBYSCORE', watched, '-inf', now)
  local top = redis.call('ZRANGE', watched, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', watched, string.format('%.0f', tonumber(top[2])))
end
return n
"""

# KEYS: interest per truck, then the watched index. ARGV: node_id, truck...
# (ZREM of the last member deletes the key; a truck nobody watches leaves the index.)
DROP_INTEREST = """
local watched = KEYS[#KEYS]
for i = 1, #KEYS - 1 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('ZREM', watched, ARGV[1 + i])
  end
end
return #KEYS - 1
"""

# KEYS: interest per truck. Returns the 1-based positions with a live member.
INTERESTED = _NOW + """
local out = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) > 0 then
    out[#out + 1] = i
  end
end
return out
"""

# KEYS: the watched index. Returns every truck some node's interest may still cover
# (expired entries are purged first).
WATCHED = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# KEYS: lease, state, hist. ARGV: lease value, pubsub channel, epoch, ts, row, frame, keep_ms.
# A new epoch: refused when fenced or when the epoch is the stored one (epochs are never
# reused, relays treat a snapshot of their own epoch as a duplicate).
PUBLISH_SNAPSHOT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[2], 'epoch') == ARGV[3] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'epoch', ARGV[3], 'seq', '0', 'ts', ARGV[4], 'row', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[2], 's|' .. ARGV[3] .. '|0|' .. ARGV[6])
return 1
"""

# KEYS: lease, state, hist. ARGV: lease value, pubsub channel, epoch, seq, ts, payload, row,
# maxlen, keep_ms. Refused unless fenced in and the stored position is (epoch, seq - 1).
PUBLISH_DIFF = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local cur = redis.call('HMGET', KEYS[2], 'epoch', 'seq')
if cur[1] ~= ARGV[3] or tonumber(cur[2]) + 1 ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], 'seq', ARGV[4], 'ts', ARGV[5], 'row', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
if tonumber(ARGV[8]) > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[8], '0-' .. ARGV[4], 'd', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[9])
end
redis.call('PUBLISH', ARGV[2], 'd|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[6])
return 1
"""

# KEYS: lease, state. ARGV: lease value, pubsub channel, epoch, payload. Refused unless
# fenced in and the stored epoch is this one; published with the epoch's current seq.
PUBLISH_STATUS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local cur = redis.call('HMGET', KEYS[2], 'epoch', 'seq')
if cur[1] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], 'status', ARGV[4])
redis.call('PUBLISH', ARGV[2], 't|' .. ARGV[3] .. '|' .. cur[2] .. '|' .. ARGV[4])
return 1
"""

SCRIPTS = {
    "acquire": ACQUIRE,
    "renew": RENEW,
    "release": RELEASE,
    "refresh_interest": REFRESH_INTEREST,
    "drop_interest": DROP_INTEREST,
    "interested": INTERESTED,
    "watched": WATCHED,
    "publish_snapshot": PUBLISH_SNAPSHOT,
    "publish_diff": PUBLISH_DIFF,
    "publish_status": PUBLISH_STATUS,
}
