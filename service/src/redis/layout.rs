//! Where the L2 hashes and the channels live, on one node (or behind Sentinel) and on a Cluster.
//!
//! Why a Cluster needs its own names: the relay's one script drops a view's fields, raises its
//! fence and publishes, and on a Cluster a script may touch only what lives on the node of its
//! key's slot. A server's own channel is sharded there (`SPUBLISH`: the message stays in the
//! shard that owns the channel's slot, where a classic `PUBLISH` is copied to every node), so
//! the hashes of a server carry that channel as their hash tag, `{<channel>:<server>}:views:
//! <kind>`: the hashes and the channel they are announced on share one slot. The global channel
//! stays a classic one (a script may `PUBLISH` anywhere), followed by the replicas and by
//! subscribers that want everything.
//!
//! On one node and behind Sentinel nothing moves: the hashes keep their names,
//! `<channel>:views:<kind>:<server>`, so replicas of an older version share them during an
//! upgrade, and every channel is a classic one.

use fred::{error::ErrorKind, util::redis_keyslot};

use super::RedisError;
use crate::domain::Kind;

/// The names one process uses for the keys and channels of its `channel`.
#[derive(Clone, Debug)]
pub struct Layout {
    channel: String,
    cluster: bool,
}

impl Layout {
    /// `cluster`: whether the client talks to a Redis Cluster.
    pub fn new(channel: &str, cluster: bool) -> Self {
        Self {
            channel: channel.to_owned(),
            cluster,
        }
    }

    /// The global channel: every event, classic pub/sub on every topology.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// One server's channel, `<channel>:<server>`, on every topology.
    pub fn server_channel(&self, server: &str) -> String {
        server_channel(&self.channel, server)
    }

    /// Whether the servers' channels are sharded (`SPUBLISH`/`SSUBSCRIBE`): on a Cluster.
    pub fn sharded(&self) -> bool {
        self.cluster
    }

    /// The command that publishes on a server's channel.
    pub fn server_publish(&self) -> &'static str {
        if self.cluster { "SPUBLISH" } else { "PUBLISH" }
    }

    /// The L2 hash of one (server, kind).
    pub fn view_hash(&self, kind: Kind, server: &str) -> String {
        if self.cluster {
            format!(
                "{}:views:{}",
                slot_of(&self.server_channel(server)),
                kind.as_str()
            )
        } else {
            format!("{}:views:{}:{server}", self.channel, kind.as_str())
        }
    }
}

/// The channel of one server's events: `<channel>:<server>`. Every event goes to the global
/// channel (what the replicas and "everything" subscribers follow) and to its server's, so a
/// fleet of one server's MCP servers receives only that server's events.
pub fn server_channel(channel: &str, server: &str) -> String {
    format!("{channel}:{server}")
}

/// A key prefix in the slot of `name`: `name` itself if it has a hash tag (anything appended
/// keeps it), else `name` made the tag.
fn slot_of(name: &str) -> String {
    if hash_tag(name).is_some() {
        name.to_owned()
    } else {
        format!("{{{name}}}")
    }
}

/// What Redis Cluster hashes `key` by, when not the whole key: the text between the first `{`
/// and the first `}` after it, if not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// Refuses a channel whose servers' hashes could not share their channel's slot on a Cluster:
/// one with a `}` and no hash tag (`a}b`), which the tag `{…}` would cut short.
pub fn check_channel(channel: &str, cluster: bool) -> Result<(), RedisError> {
    if !cluster {
        return Ok(());
    }
    let layout = Layout::new(channel, true);
    let server_channel = layout.server_channel("server");
    let hash = layout.view_hash(Kind::Prompts, "server");
    if redis_keyslot(hash.as_bytes()) == redis_keyslot(server_channel.as_bytes()) {
        Ok(())
    } else {
        Err(RedisError::new(
            ErrorKind::Config,
            format!(
                "on a Redis Cluster the channel {channel:?} cannot hold a `}}` outside a hash tag"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_keeps_the_names_it_always_had() {
        let layout = Layout::new("mcp-config:invalidations", false);
        assert_eq!(
            layout.view_hash(Kind::Prompts, "github"),
            "mcp-config:invalidations:views:PROMPTS:github"
        );
        assert_eq!(
            layout.server_channel("github"),
            "mcp-config:invalidations:github"
        );
        assert_eq!(layout.server_publish(), "PUBLISH");
    }

    #[test]
    fn on_a_cluster_a_servers_hashes_share_its_channels_slot() {
        for channel in ["mcp-config:invalidations", "{mcp}:inv", "a{b"] {
            let layout = Layout::new(channel, true);
            let slot = redis_keyslot(layout.server_channel("github").as_bytes());
            for kind in [Kind::Prompts, Kind::Resources] {
                let hash = layout.view_hash(kind, "github");
                assert_eq!(redis_keyslot(hash.as_bytes()), slot, "{hash}");
            }
            assert!(check_channel(channel, true).is_ok(), "{channel}");
        }
        assert_eq!(
            Layout::new("mcp-config:invalidations", true).view_hash(Kind::Resources, "github"),
            "{mcp-config:invalidations:github}:views:RESOURCES"
        );
    }

    #[test]
    fn a_channel_that_would_split_a_servers_slot_is_refused_on_a_cluster_only() {
        assert!(check_channel("a}b", true).is_err());
        assert!(
            check_channel("x{}y", true).is_err(),
            "an empty tag is no tag"
        );
        assert!(check_channel("a}b", false).is_ok());
    }
}
