"""The Lua scripts the cluster runs in Redis, each one step that must not be split."""

from __future__ import annotations

# Append a relayed item to a session direction's stream, publish it to the session's channel,
# and note how far the sender's messages were taken: one call per relayed message.
APPEND = """
redis.call('XADD', KEYS[1], 'MINID', ARGV[1], ARGV[2], 'd', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4] .. ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
return 0
"""

# Take a session over from a dead owner (only if it still names that owner).
TAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# A one-click request's view, from one of the processes that hold the visitor: each hears of
# some of its statuses, so the view that has heard the most of a request wins.
ONE_CLICK = """
local old = redis.call('GET', KEYS[1])
if old then
  local was, now = cjson.decode(old), cjson.decode(ARGV[1])
  if was.request_id == now.request_id and #was.history >= #now.history then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# By the name the cluster calls each one.
SCRIPTS = {"append": APPEND, "take": TAKE, "one_click": ONE_CLICK}
