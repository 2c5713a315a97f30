//! The gRPC contract of mcp-config (package `mcp_config.v1`), generated from `proto/` at build
//! time so it cannot drift from the .proto files.

mod encoded;
mod json;
#[cfg(feature = "mcp")]
pub mod mcp;
mod templates;

pub use encoded::EncodedResponse;

/// Messages, enums and the client of `mcp_config.v1`.
pub mod v1 {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/mcp_config.v1.rs"));
}

/// The server side of `ConfigService`, whose view responses are [`EncodedResponse`]s.
pub mod server {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/server/mcp_config.v1.rs"));
}

/// The encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mcp_config_descriptor.bin"));
