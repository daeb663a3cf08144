//! Who holds each session, in Redis, when several instances share it: every
//! instance keeps a lease (a key with a time to live, renewed on a timer)
//! and a set of the sessions it owns; each session has a fencing number,
//! raised on every change of owner, that every write of its state checks
//! (see `redis_events`), so an owner that was paused past its lease cannot
//! write once another has taken its sessions over. What a session needs to
//! be reopened elsewhere (its player, scene, character, server, the dialog
//! so far, the replies still awaited) is kept beside it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inworld::client::Talker;
use redis::aio::ConnectionManager;
use redis::{RedisError, Script};

/// Every key of the proxy starts with this.
pub const PREFIX: &str = "inworld-proxy:";
/// Dialog lines kept per session for a takeover (the oldest go).
pub const DIALOG_LINES: usize = 64;

/// The key naming the instance that holds a session.
pub fn owner_key(session: &str) -> String {
    format!("{PREFIX}owner:{session}")
}

/// The key of a session's fencing number.
pub fn fence_key(session: &str) -> String {
    format!("{PREFIX}fence:{session}")
}

/// The key of a session's dialog so far (JSON `[talker, text]` lines).
pub fn dialog_key(session: &str) -> String {
    format!("{PREFIX}dialog:{session}")
}

/// The key of a session's interactions accepted and not yet ended.
pub fn pending_key(session: &str) -> String {
    format!("{PREFIX}pending:{session}")
}

/// The key of what a session was opened with.
pub fn meta_key(session: &str) -> String {
    format!("{PREFIX}meta:{session}")
}

fn lease_key(instance: &str) -> String {
    format!("{PREFIX}lease:{instance}")
}

fn owned_key(instance: &str) -> String {
    format!("{PREFIX}owned:{instance}")
}

/// What the live instances noted of a lapsed one: how many sessions it
/// had, since when, and how many each claimed.
fn orphans_key(instance: &str) -> String {
    format!("{PREFIX}orphans:{instance}")
}

fn instances_key() -> String {
    format!("{PREFIX}instances")
}

/// Makes this instance the session's owner, with a new fencing number
/// (returned), and records what it was opened with. KEYS: owner, fence,
/// meta, owned. ARGV: me, session, uid, scene, character, player, server.
const CLAIM: &str = r#"
redis.call('SET', KEYS[1], ARGV[1])
local fence = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'uid', ARGV[3], 'scene', ARGV[4], 'character', ARGV[5], 'player', ARGV[6], 'server', ARGV[7])
redis.call('SADD', KEYS[4], ARGV[2])
return fence
"#;

/// Records again a session this instance holds, unless another took it
/// (its fencing number moved on). KEYS, ARGV: as CLAIM, and the fence.
const RECLAIM: &str = r#"
local fence = redis.call('GET', KEYS[2])
if fence ~= false and fence ~= ARGV[8] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[8])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'uid', ARGV[3], 'scene', ARGV[4], 'character', ARGV[5], 'player', ARGV[6], 'server', ARGV[7])
end
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"#;

/// Renews this instance's lease; 1 when it was still held, 0 when it had
/// lapsed (another instance may have taken its sessions; what they noted
/// of this one as lapsed is forgotten, so that its shares start afresh
/// should it lapse again). KEYS: lease, instances, orphans. ARGV: me, ttl
/// in ms.
const RENEW: &str = r#"
local held = redis.call('EXISTS', KEYS[1])
if held == 0 then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return held
"#;

/// Takes over sessions of instances whose lease lapsed, each with this
/// instance as owner and a new fencing number, spread over the live
/// instances and held to this one's room: for a lease after an instance
/// is first found lapsed, each live instance claims at most its share of
/// its sessions (their number then over the live leases, rounded up), so
/// that every survivor gets some; after that, any instance with room
/// takes what is left (a survivor at its bound claims nothing). Returns a
/// flat list: the sessions of lapsed instances left unclaimed, then
/// (session, fence) pairs. KEYS: instances. ARGV: me, prefix, room, the
/// time in ms the shares hold.
const TAKE_OVER: &str = r#"
local p = ARGV[2]
local room = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = 0
local lapsed = {}
for _, inst in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', p .. 'lease:' .. inst) == 1 then
    live = live + 1
  elseif inst ~= ARGV[1] then
    table.insert(lapsed, inst)
  end
end
if live == 0 then live = 1 end
local left = 0
local out = {}
for _, inst in ipairs(lapsed) do
  local owned = p .. 'owned:' .. inst
  local book = p .. 'orphans:' .. inst
  local theirs = {}
  for _, sid in ipairs(redis.call('SMEMBERS', owned)) do
    if redis.call('GET', p .. 'owner:' .. sid) == inst then
      table.insert(theirs, sid)
    else
      redis.call('SREM', owned, sid)
    end
  end
  if redis.call('EXISTS', book) == 0 then
    redis.call('HSET', book, 'total', #theirs, 'since', now)
  end
  local allowed = #theirs
  if now - tonumber(redis.call('HGET', book, 'since')) < hold then
    local share = math.ceil(tonumber(redis.call('HGET', book, 'total')) / live)
    local taken = tonumber(redis.call('HGET', book, 'by:' .. ARGV[1]) or '0')
    allowed = math.max(0, share - taken)
  end
  local n = 0
  for _, sid in ipairs(theirs) do
    if n < allowed and room > 0 then
      redis.call('SET', p .. 'owner:' .. sid, ARGV[1])
      local fence = redis.call('INCR', p .. 'fence:' .. sid)
      redis.call('SADD', p .. 'owned:' .. ARGV[1], sid)
      redis.call('SREM', owned, sid)
      table.insert(out, sid)
      table.insert(out, tostring(fence))
      n = n + 1
      room = room - 1
    else
      left = left + 1
    end
  end
  if n > 0 then redis.call('HINCRBY', book, 'by:' .. ARGV[1], n) end
  if redis.call('SCARD', owned) == 0 then
    redis.call('DEL', owned, book)
    redis.call('SREM', KEYS[1], inst)
  end
end
table.insert(out, 1, tostring(left))
return out
"#;

/// Claims again, with new fencing numbers, the sessions recorded as this
/// instance's (a process that starts holds none: they were its
/// predecessor's at the same address), at most `room` of them; the rest
/// are left to the other instances, as the sessions of a lapsed instance
/// named `<me>#before` (never leased). Returns how many were left, then
/// (session, fence) pairs. KEYS: owned, orphans, instances. ARGV: me,
/// prefix, room. (What other instances noted of this address's sessions
/// as a lapsed instance's is forgotten.)
const ADOPT: &str = r#"
local out = {}
local p = ARGV[2]
local room = tonumber(ARGV[3])
local before = ARGV[1] .. '#before'
local left = 0
redis.call('DEL', KEYS[2])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('GET', p .. 'owner:' .. sid) ~= ARGV[1] then
    redis.call('SREM', KEYS[1], sid)
  elseif room > 0 then
    local fence = redis.call('INCR', p .. 'fence:' .. sid)
    table.insert(out, sid)
    table.insert(out, tostring(fence))
    room = room - 1
  else
    redis.call('SET', p .. 'owner:' .. sid, before)
    redis.call('SADD', p .. 'owned:' .. before, sid)
    redis.call('SREM', KEYS[1], sid)
    left = left + 1
  end
end
if left > 0 then
  redis.call('DEL', p .. 'orphans:' .. before)
  redis.call('SADD', KEYS[3], before)
end
table.insert(out, 1, tostring(left))
return out
"#;

/// What a session was opened with, and where its conversation stands:
/// what another instance needs to reopen it.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    pub uid: String,
    pub scene: String,
    pub character: Option<String>,
    pub player: Option<String>,
    pub server: Option<String>,
    /// The dialog so far, oldest line first.
    pub dialog: Vec<(Talker, String)>,
    /// Interactions accepted whose reply had not ended.
    pub pending: Vec<String>,
}

/// (session, fence) pairs from a flat list.
fn pairs(flat: Vec<String>) -> Vec<(String, u64)> {
    flat.chunks_exact(2)
        .filter_map(|p| Some((p[0].clone(), p[1].parse().ok()?)))
        .collect()
}

/// One dialog line as kept in Redis.
pub fn dialog_line(talker: Talker, text: &str) -> String {
    let who = match talker {
        Talker::Player => "player",
        Talker::Character => "character",
    };
    serde_json::json!([who, text]).to_string()
}

fn parse_line(line: &str) -> Option<(Talker, String)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let talker = match value[0].as_str()? {
        "player" => Talker::Player,
        _ => Talker::Character,
    };
    Some((talker, value[1].as_str()?.to_string()))
}

/// This instance's view of ownership in Redis.
pub struct Ownership {
    /// This instance's address, which also names it.
    pub me: String,
    /// How long a lease lasts unrenewed.
    pub lease: Duration,
    connection: ConnectionManager,
    claim: Script,
    adopt: Script,
    reclaim: Script,
    renew: Script,
    take_over: Script,
    /// Whether the sessions of the previous process at this address were
    /// claimed again (retried on the lease's tick while Redis is away).
    adopted: AtomicBool,
}

impl Ownership {
    pub fn new(connection: ConnectionManager, me: String, lease: Duration) -> Ownership {
        Ownership {
            me,
            lease,
            connection,
            claim: Script::new(CLAIM),
            adopt: Script::new(ADOPT),
            reclaim: Script::new(RECLAIM),
            renew: Script::new(RENEW),
            take_over: Script::new(TAKE_OVER),
            adopted: AtomicBool::new(false),
        }
    }

    /// Whether the previous process's sessions were claimed again: until
    /// then this instance opens none (so that none of its own is claimed
    /// as its predecessor's).
    pub fn adopted(&self) -> bool {
        self.adopted.load(Ordering::Acquire)
    }

    /// Owns a newly opened session; its fencing number.
    pub async fn claim(&self, session: &str, saved: &Saved) -> Result<u64, RedisError> {
        let mut connection = self.connection.clone();
        self.claim
            .key(owner_key(session))
            .key(fence_key(session))
            .key(meta_key(session))
            .key(owned_key(&self.me))
            .arg(&self.me)
            .arg(session)
            .arg(&saved.uid)
            .arg(&saved.scene)
            .arg(saved.character.as_deref().unwrap_or(""))
            .arg(saved.player.as_deref().unwrap_or(""))
            .arg(saved.server.as_deref().unwrap_or(""))
            .invoke_async(&mut connection)
            .await
    }

    /// Renews the lease: false when it had lapsed.
    pub async fn renew(&self) -> Result<bool, RedisError> {
        let mut connection = self.connection.clone();
        let held: i64 = self
            .renew
            .key(lease_key(&self.me))
            .key(instances_key())
            .key(orphans_key(&self.me))
            .arg(&self.me)
            .arg(self.lease.as_millis() as u64)
            .invoke_async(&mut connection)
            .await?;
        Ok(held == 1)
    }

    /// Gives up the lease at once (a graceful stop), so that the others
    /// take the sessions over without waiting for it to lapse.
    pub async fn release(&self) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL")
            .arg(lease_key(&self.me))
            .query_async(&mut connection)
            .await
    }

    /// The sessions a previous process at this address owned, claimed
    /// again, at most `room` (call before this process opens any):
    /// (session, new fence), and how many were left to the other
    /// instances. Once done, [`Ownership::adopted`] holds.
    pub async fn adopt_predecessors(
        &self,
        room: usize,
    ) -> Result<(Vec<(String, u64)>, u64), RedisError> {
        let mut connection = self.connection.clone();
        let mut flat: Vec<String> = self
            .adopt
            .key(owned_key(&self.me))
            .key(orphans_key(&self.me))
            .key(instances_key())
            .arg(&self.me)
            .arg(PREFIX)
            .arg(room)
            .invoke_async(&mut connection)
            .await?;
        self.adopted.store(true, Ordering::Release);
        let left = if flat.is_empty() {
            0
        } else {
            flat.remove(0).parse().unwrap_or(0)
        };
        Ok((pairs(flat), left))
    }

    /// How many other instances hold a lease now.
    pub async fn others_alive(&self) -> Result<usize, RedisError> {
        let mut connection = self.connection.clone();
        let instances: Vec<String> = redis::cmd("SMEMBERS")
            .arg(instances_key())
            .query_async(&mut connection)
            .await?;
        let others: Vec<&String> = instances.iter().filter(|i| **i != self.me).collect();
        if others.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for other in &others {
            pipe.cmd("EXISTS").arg(lease_key(other));
        }
        let alive: Vec<u8> = pipe.query_async(&mut connection).await?;
        Ok(alive.iter().filter(|a| **a == 1).count())
    }

    /// Takes over sessions of instances whose lease lapsed, at most
    /// `room` of them (see TAKE_OVER): (session, its new fencing number),
    /// and how many sessions of lapsed instances are left unclaimed.
    pub async fn take_over_lapsed(
        &self,
        room: usize,
    ) -> Result<(Vec<(String, u64)>, u64), RedisError> {
        let mut connection = self.connection.clone();
        let mut flat: Vec<String> = self
            .take_over
            .key(instances_key())
            .arg(&self.me)
            .arg(PREFIX)
            .arg(room)
            .arg(self.lease.as_millis() as u64)
            .invoke_async(&mut connection)
            .await?;
        let left = if flat.is_empty() {
            0
        } else {
            flat.remove(0).parse().unwrap_or(0)
        };
        Ok((pairs(flat), left))
    }

    /// The current fencing numbers of `sessions` (Some(0): closed; None:
    /// Redis has no record of it, it restarted without its data).
    pub async fn fences(&self, sessions: &[String]) -> Result<Vec<Option<u64>>, RedisError> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        for session in sessions {
            pipe.cmd("GET").arg(fence_key(session));
        }
        let fences: Vec<Option<String>> = pipe.query_async(&mut connection).await?;
        Ok(fences
            .into_iter()
            .map(|f| f.map(|f| f.parse().unwrap_or(0)))
            .collect())
    }

    /// Records a session held here again, with its fencing number, after
    /// Redis may have lost its record (it restarted without its data);
    /// nothing when another instance took it meanwhile.
    pub async fn reclaim(
        &self,
        session: &str,
        fence: u64,
        saved: &Saved,
    ) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        self.reclaim
            .key(owner_key(session))
            .key(fence_key(session))
            .key(meta_key(session))
            .key(owned_key(&self.me))
            .arg(&self.me)
            .arg(session)
            .arg(&saved.uid)
            .arg(&saved.scene)
            .arg(saved.character.as_deref().unwrap_or(""))
            .arg(saved.player.as_deref().unwrap_or(""))
            .arg(saved.server.as_deref().unwrap_or(""))
            .arg(fence)
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
    }

    /// What a session taken over needs to be reopened.
    pub async fn saved(&self, session: &str) -> Result<Saved, RedisError> {
        let mut connection = self.connection.clone();
        let (meta, dialog, pending): (
            std::collections::HashMap<String, String>,
            Vec<String>,
            Vec<String>,
        ) = redis::pipe()
            .cmd("HGETALL")
            .arg(meta_key(session))
            .cmd("LRANGE")
            .arg(dialog_key(session))
            .arg(0)
            .arg(-1)
            .cmd("HKEYS")
            .arg(pending_key(session))
            .query_async(&mut connection)
            .await?;
        let field = |name: &str| meta.get(name).filter(|v| !v.is_empty()).cloned();
        Ok(Saved {
            uid: field("uid").unwrap_or_default(),
            scene: field("scene").unwrap_or_default(),
            character: field("character"),
            player: field("player"),
            server: field("server"),
            dialog: dialog.iter().filter_map(|l| parse_line(l)).collect(),
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialog_lines_read_back_as_written() {
        let line = dialog_line(Talker::Player, "my name is \"Ada\"");
        assert_eq!(
            parse_line(&line),
            Some((Talker::Player, "my name is \"Ada\"".to_string()))
        );
        let line = dialog_line(Talker::Character, "Welcome.");
        assert_eq!(
            parse_line(&line),
            Some((Talker::Character, "Welcome.".to_string()))
        );
    }
}
