//! mcp-config: the single source of truth for the prompts and resources MCP servers expose.
//!
//! See `docs/design.md` (the contract) and `docs/architecture.md` for the picture; each module
//! below does one job.

pub mod app;
pub mod auth;
pub mod bundle;
pub mod cache;
pub mod capture;
pub mod catalog;
pub mod change_requests;
pub mod config;
pub mod connections;
pub mod content;
pub mod domain;
pub mod edits;
pub mod entry;
pub mod error;
pub mod gateway;
pub mod grpc;
pub mod health;
pub mod http;
pub mod lifecycle;
pub mod listeners;
pub mod mcp;
pub mod metrics;
pub mod overlay;
pub mod propagation;
pub mod redis;
pub mod releases;
pub mod render;
pub mod renderer;
pub mod resolve;
pub mod secrets;
pub mod slots;
pub mod sso;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod views;
pub mod webhooks;
pub mod wire;
