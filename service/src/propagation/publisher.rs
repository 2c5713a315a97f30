//! The relay's side of Redis: drop a change's L2 views, raise their fence and publish the
//! event, in one script; announce progress on quiet channels.

use fred::{
    prelude::{Client, ClientLike, LuaInterface, PubsubInterface},
    types::Value,
};

use crate::{
    domain::{Revision, Scope},
    redis::{Layout, RedisError, RedisSettings, l2_field},
};

use super::{
    event::{ChangeEvent, Event},
    wire,
};

/// Drops the L2 field(s) of one event, raises the fence and publishes, atomically; does nothing
/// (-1) when the fence already stands at the event's revision. The relay publishes before it
/// marks a change published, so a leader that lost its lock between the two (or whose publish
/// was held up on a slow link while another replica took over) hands the same event, or an
/// older one, to Redis again: the fence, raised by every publish of the view, turns that into
/// nothing, and each revision reaches subscribers once, in order. The server's channel is
/// published with `ARGV[9]`: `SPUBLISH` on a Cluster, where the hash and that channel share one
/// slot, `PUBLISH` elsewhere.
const PUBLISH_SCRIPT: &str = r"
local fence = redis.call('HGET', KEYS[1], '#fence')
if fence and tonumber(fence) >= tonumber(ARGV[3]) then return -1 end
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) else redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('HSET', KEYS[1], '#fence', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call(ARGV[9], ARGV[7], ARGV[8])
return redis.call('PUBLISH', ARGV[5], ARGV[6])
";

/// Publishes events on the global channel and on each server's own.
#[derive(Clone)]
pub struct RedisPublisher {
    client: Client,
    settings: RedisSettings,
    layout: Layout,
}

impl RedisPublisher {
    pub fn new(client: Client, settings: RedisSettings) -> Self {
        Self {
            layout: Layout::new(&settings.channel, client.is_clustered()),
            client,
            settings,
        }
    }

    /// Publishes `change` on the global channel and on its server's; there, `previousRevision`
    /// is `server_previous`, the revision of that server's previous event, so each server's
    /// channel is gap-free for its subscribers as the global one is.
    pub async fn publish(
        &self,
        change: &ChangeEvent,
        server_previous: Revision,
    ) -> Result<(), RedisError> {
        if !self.client.is_connected() {
            return Err(RedisError::new(
                fred::error::ErrorKind::IO,
                "not connected to Redis",
            ));
        }
        // A default's change drops every org's view of the server (the whole hash).
        let whole = if change.scope == Scope::Defaults {
            "1"
        } else {
            "0"
        };
        let hash = self.layout.view_hash(change.kind, change.server.as_str());
        let on_server_channel = ChangeEvent {
            previous_revision: server_previous,
            ..change.clone()
        };
        let args: Vec<Value> = vec![
            whole.into(),
            l2_field(&change.scope).into(),
            change.revision.to_string().into(),
            self.settings.l2_ttl.as_secs().max(1).to_string().into(),
            self.layout.channel().into(),
            wire::to_json(&Event::Change(change.clone())).into(),
            self.layout.server_channel(change.server.as_str()).into(),
            wire::to_json(&Event::Change(on_server_channel)).into(),
            self.layout.server_publish().into(),
        ];
        let receivers: i64 = self.client.eval(PUBLISH_SCRIPT, vec![hash], args).await?;
        if receivers < 0 {
            tracing::debug!(revision = change.revision, "already published");
        }
        Ok(())
    }

    /// Says on the channel that every change up to `revision` has been published: a
    /// subscriber that hears nothing, not even this, for [`super::silence_bound`] is cut off,
    /// and one behind it missed a message.
    pub async fn announce_progress(&self, revision: Revision) -> Result<(), RedisError> {
        let _receivers: i64 = self
            .client
            .publish(
                self.layout.channel(),
                wire::to_json(&Event::Progress(revision)),
            )
            .await?;
        Ok(())
    }

    /// [`RedisPublisher::announce_progress`] on one server's channel, at that server's last
    /// published revision.
    pub async fn announce_server_progress(
        &self,
        server: &str,
        revision: Revision,
    ) -> Result<(), RedisError> {
        let (channel, progress) = (
            self.layout.server_channel(server),
            wire::to_json(&Event::Progress(revision)),
        );
        let _receivers: i64 = if self.layout.sharded() {
            self.client.spublish(channel, progress).await?
        } else {
            self.client.publish(channel, progress).await?
        };
        Ok(())
    }
}
