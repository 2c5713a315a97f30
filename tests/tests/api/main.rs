//! The end-to-end tests, one module per area, linked into one test binary.
//!
//! Why one binary: every file directly under `tests/` is a crate of its own that links the
//! whole service and its dependencies again, so nine files meant nine links of the same code
//! on every change. As modules of one crate they link once, and libtest runs all of them in one
//! process, sharing its threads instead of running one binary after another.
//!
//! One consequence to keep in mind: everything process-wide is shared between the areas, the
//! metrics recorder above all (see `operations`), so a test may only assert that a counter
//! moved by at least what it did itself.

mod admin_api;
mod auth;
mod change_requests;
mod connections;
mod gateway;
mod hardening;
mod l2;
mod mcp;
mod mcp_content;
mod operations;
mod propagation;
mod read_path;
mod releases;
mod render_vectors;
mod store_suite;
mod tls;
mod topologies;
mod ui;
mod webhooks;
