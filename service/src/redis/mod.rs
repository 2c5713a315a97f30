//! Redis: how this process reaches it (one node, Sentinel and Cluster are all fred's to reach;
//! the URL picks), the names it uses there ([`layout`]), and the shared L2 cache ([`l2`]).
//! Publishing and subscribing are `propagation`'s.

mod l2;
mod layout;

pub use l2::{Emptying, Fence, L2, L2Error};
pub use layout::{Layout, check_channel, server_channel};

use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, ReconnectPolicy};

use crate::domain::Scope;

pub type RedisError = fred::error::Error;

/// How long a command may wait (for a connection, among other things) before it fails, so a
/// Redis outage turns into quick errors rather than stuck requests.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The L2 field of the defaults-only view.
const DEFAULTS_FIELD: &str = "@";

/// Connection settings shared by the clients of one process.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// The pub/sub channel; L2 keys use it as their prefix too.
    pub channel: String,
    pub l2_ttl: Duration,
    /// How long a read-path call (L2 get or put) may take before it counts as failed.
    pub l2_timeout: Duration,
}

fn builder(url: &str) -> Result<Builder, RedisError> {
    let mut builder = Builder::from_config(Config::from_url(url)?);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = COMMAND_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    Ok(builder)
}

/// A command client, connecting (and reconnecting) in the background.
pub fn client(url: &str) -> Result<Client, RedisError> {
    let client = builder(url)?.build()?;
    client.connect();
    Ok(client)
}

/// A subscriber client, connecting (and reconnecting) once told to.
pub fn subscriber_client(url: &str) -> Result<fred::clients::SubscriberClient, RedisError> {
    builder(url)?.build_subscriber_client()
}

/// The field of `scope`'s view in its server's L2 hash.
pub(crate) fn l2_field(scope: &Scope) -> &str {
    match scope {
        Scope::Defaults => DEFAULTS_FIELD,
        Scope::Org(org) => org.as_str(),
    }
}
