//! A submitted form as its ordered fields, from either encoding: repeated names (the rows of
//! an argument or message table) keep their order, and a file upload arrives as bytes.

use axum::{
    extract::{FromRequest, Multipart, Request},
    http::{StatusCode, header},
};
use bytes::Bytes;

use super::page::UiError;
use crate::{
    domain::InvalidInput,
    http::{ApiError, HttpState},
};

/// The fields of a form, in the order sent.
#[derive(Debug, Default)]
pub(super) struct Fields {
    text: Vec<(String, String)>,
    files: Vec<(String, Bytes)>,
}

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.text
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bytes of an uploaded file, when one was chosen.
    pub fn file(&self, name: &str) -> Option<&Bytes> {
        self.files
            .iter()
            .find(|(n, bytes)| n == name && !bytes.is_empty())
            .map(|(_, bytes)| bytes)
    }

    /// `name` as a number, `None` when blank.
    pub fn number(&self, name: &str) -> Result<Option<u64>, InvalidInput> {
        match self.get(name).trim() {
            "" => Ok(None),
            raw => raw
                .parse()
                .map(Some)
                .map_err(|_| InvalidInput::new(name, format!("{raw:?} is not a number"))),
        }
    }
}

/// Reads a form within [`crate::http::FormLimits`]: a declared length over the cap is refused before a byte
/// is read, a body that grows past it stops being read, and a form of more fields than the cap
/// is refused before they are all kept. The handlers that take a form check the viewer's
/// rights in extractors that run before this one (`place::Writer`), so none of this is spent
/// on a form its sender may not submit.
impl FromRequest<HttpState> for Fields {
    type Rejection = UiError;

    async fn from_request(request: Request, state: &HttpState) -> Result<Self, Self::Rejection> {
        let limits = state.form_limits;
        let too_large =
            |what: String| UiError::from(ApiError::BadRequest(StatusCode::PAYLOAD_TOO_LARGE, what));
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limits.max_bytes) {
            return Err(too_large(format!(
                "the form is larger than {} bytes (MCP_CONFIG_UI_MAX_FORM_BYTES)",
                limits.max_bytes
            )));
        }
        let too_many = || {
            too_large(format!(
                "the form has more than {} fields (MCP_CONFIG_UI_MAX_FORM_FIELDS)",
                limits.max_fields
            ))
        };
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        let unreadable = |e: &dyn std::fmt::Display| {
            UiError::from(ApiError::BadRequest(
                StatusCode::BAD_REQUEST,
                format!("the form could not be read: {e}"),
            ))
        };
        let mut fields = Fields::default();
        if multipart {
            let request = request.map(|body| {
                axum::body::Body::new(http_body_util::Limited::new(body, limits.max_bytes))
            });
            let mut parts = Multipart::from_request(request, state)
                .await
                .map_err(|e| unreadable(&e))?;
            while let Some(part) = parts.next_field().await.map_err(|e| unreadable(&e))? {
                if fields.text.len() + fields.files.len() >= limits.max_fields {
                    return Err(too_many());
                }
                let name = part.name().unwrap_or_default().to_owned();
                if part.file_name().is_some() {
                    let bytes = part.bytes().await.map_err(|e| unreadable(&e))?;
                    fields.files.push((name, bytes));
                } else {
                    let text = part.text().await.map_err(|e| unreadable(&e))?;
                    fields.text.push((name, unix_line_ends(text)));
                }
            }
        } else {
            let body = axum::body::to_bytes(request.into_body(), limits.max_bytes)
                .await
                .map_err(|_| {
                    too_large(format!(
                        "the form is larger than {} bytes (MCP_CONFIG_UI_MAX_FORM_BYTES)",
                        limits.max_bytes
                    ))
                })?;
            for pair in url::form_urlencoded::parse(&body) {
                if fields.text.len() >= limits.max_fields {
                    return Err(too_many());
                }
                fields
                    .text
                    .push((pair.0.into_owned(), unix_line_ends(pair.1.into_owned())));
            }
        }
        Ok(fields)
    }
}

/// Browsers submit a textarea's line ends as CRLF; what the UI saves is served to MCP servers
/// and exported, and must read the same as what the API and bundles save, so lines end in LF.
fn unix_line_ends(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    }
}

#[cfg(test)]
impl Fields {
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            text: pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            files: Vec::new(),
        }
    }
}
