//! The UI's static files, embedded in the binary: nothing is loaded from elsewhere at run time.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// htmx 2, vendored as published on npm (`htmx.org`); its SHA-256 is checked by a test.
pub(super) const HTMX: &[u8] = include_bytes!("assets/htmx-2.0.11.min.js");
pub(super) const HTMX_FILE: &str = "htmx-2.0.11.min.js";

const FILES: [(&str, &[u8], &str); 3] = [
    (HTMX_FILE, HTMX, "text/javascript"),
    ("ui.js", include_bytes!("assets/ui.js"), "text/javascript"),
    ("ui.css", include_bytes!("assets/ui.css"), "text/css"),
];

pub(super) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, bytes, content_type)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // The names change with their content (htmx's carries its version) or are
                // tiny; an hour keeps page loads light without pinning a stale script for long.
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vendored_htmx_is_the_published_file() {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(super::HTMX);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
    }
}
