//! Generates the Rust code of `mcp_config.v1` from the .proto files with protox (pure Rust, so
//! no `protoc` is needed on a fresh machine), in two passes:
//!
//! 1. messages and the client, plus the descriptor set that server reflection serves;
//! 2. the server trait alone, with the two view responses mapped to [`EncodedResponse`], so the
//!    service answers a cache hit with bytes it encoded once instead of re-encoding every time.

use std::{error::Error, path::PathBuf};

use prost::Message;

const PACKAGE: &str = ".mcp_config.v1";
const PRE_ENCODED_RESPONSES: [&str; 2] = ["GetPromptsResponse", "GetResourcesResponse"];

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = protox::compile(["mcp_config/v1/config.proto"], ["."])?;
    println!("cargo:rerun-if-changed=mcp_config");
    std::fs::write(
        out_dir.join("mcp_config_descriptor.bin"),
        files.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(files.clone())?;

    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let mut services_only = files;
    for file in &mut services_only.file {
        file.message_type.clear();
        file.enum_type.clear();
    }
    let mut server = tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .out_dir(&server_dir)
        .extern_path(PACKAGE, "crate::v1");
    for response in PRE_ENCODED_RESPONSES {
        server = server.extern_path(format!("{PACKAGE}.{response}"), "crate::EncodedResponse");
    }
    server.compile_fds(services_only)?;
    Ok(())
}
