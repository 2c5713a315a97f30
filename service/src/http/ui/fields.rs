//! A submitted form as its ordered fields, from either encoding: repeated names (the rows of
//! an argument or message table) keep their order, and a file upload arrives as bytes.

use axum::{
    extract::{FromRequest, Multipart, Request},
    http::header,
};
use bytes::Bytes;

use super::page::UiError;
use crate::{domain::InvalidInput, http::ApiError};

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

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        let unreadable = |e: &dyn std::fmt::Display| {
            UiError::from(ApiError::BadRequest(
                axum::http::StatusCode::BAD_REQUEST,
                format!("the form could not be read: {e}"),
            ))
        };
        let mut fields = Fields::default();
        if multipart {
            let mut parts = Multipart::from_request(request, state)
                .await
                .map_err(|e| unreadable(&e))?;
            while let Some(part) = parts.next_field().await.map_err(|e| unreadable(&e))? {
                let name = part.name().unwrap_or_default().to_owned();
                if part.file_name().is_some() {
                    let bytes = part.bytes().await.map_err(|e| unreadable(&e))?;
                    fields.files.push((name, bytes));
                } else {
                    let text = part.text().await.map_err(|e| unreadable(&e))?;
                    fields.text.push((name, text));
                }
            }
        } else {
            let body = Bytes::from_request(request, state)
                .await
                .map_err(|e| unreadable(&e))?;
            fields.text = url::form_urlencoded::parse(&body).into_owned().collect();
        }
        Ok(fields)
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
