//! The Lua scripts: each runs atomically in Redis, and is sent by its SHA1 (`EVALSHA`)
//! once Redis has it. Every key a script touches shares the queue's hash tag.

use std::sync::LazyLock;

use redis::Script;

/// Adds a batch to the stream in one step, skipping every queue id that it added in the
/// last hour, so that sending the same batch again (a retry after a lost reply) adds
/// nothing twice.
///
/// `KEYS`: the stream, the sorted set of ids enqueued lately (score = ms).
/// `ARGV`: now (ms), the cutoff below which an id is forgotten (ms), then an id and its
/// record for each message.
pub(super) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local added = 0
for i = 3, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    redis.call('XADD', KEYS[1], '*', 'r', ARGV[i + 1])
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    added = added + 1
  end
end
return added
",
    )
});

/// Moves due deferred messages back to the stream.
///
/// `KEYS`: the stream, the deferred set. `ARGV`: now (ms), the most to move.
pub(super) static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, r in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'r', r)
  redis.call('ZREM', KEYS[2], r)
end
return #due
",
    )
});

/// Settles a claim unless it was settled already: acks and deletes the entry, then puts
/// the record where `ARGV[3]` says (`defer`: the sorted set; `dead`: the dead-letter
/// stream with the error; `release`: back to the stream). Returns 0 when the claim was
/// no longer held (a late settle after a takeover never makes a copy).
///
/// `KEYS`: the stream, the target. `ARGV`: group, entry id, mode, record, then for
/// `defer` the due time (ms), for `dead` the error, the Message-ID and now (ms).
pub(super) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == 'defer' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
elseif ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[4], 'error', ARGV[5], 'id', ARGV[6], 'time', ARGV[7])
else
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[4])
end
return 1
",
    )
});

/// Moves one dead-letter entry back to the stream unless another run moved it already.
///
/// `KEYS`: the stream, the dead-letter stream. `ARGV`: the entry id, the new record.
pub(super) static REVIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'r', ARGV[2])
return 1
",
    )
});

/// Moves one deferred message to the stream, due now, unless a drainer promoted it
/// already: the old record leaves the sorted set and the new one enters the stream in
/// one step, so it is never lost nor queued twice.
///
/// `KEYS`: the stream, the deferred set. `ARGV`: the old record, the new record.
pub(super) static UNDEFER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'r', ARGV[2])
return 1
",
    )
});

/// Extends the `--single` lock when this run still holds it.
///
/// `KEYS`: the lock. `ARGV`: this run's token, the lease (ms).
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

/// Deletes the `--single` lock when this run still holds it.
///
/// `KEYS`: the lock. `ARGV`: this run's token.
pub(super) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Where a watching drainer's blocking read starts, and when it must wake at the latest:
/// the group's last delivered entry id (`$` when there is no group yet), and the score
/// (due ms) of the earliest deferred message, or `''` when none is deferred.
///
/// `KEYS`: the stream, the deferred set. `ARGV`: the group.
pub(super) static WAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local last = '$'
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, id
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
    end
    if name == ARGV[1] and id then last = id end
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {last, first[2] or ''}
",
    )
});
