//! Effective views encoded once, in the wire form of `GetPromptsResponse` /
//! `GetResourcesResponse`, so that a cache hit answers with a refcounted slice.
//!
//! Both responses share one layout (`revision = 1`, `not_modified = 2`, items `= 3`,
//! `next_cursor = 4`, `org_unknown = 5`), and protobuf lets fields come in any order, so a page
//! is the revision field, a run of item fields copied from the full body, a cursor field and
//! the org flag.

use std::ops::Range;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as CURSOR};
use bytes::{BufMut, Bytes, BytesMut};
use mcp_config_proto::EncodedResponse;
use prost::{
    DecodeError, Message,
    encoding::{
        DecodeContext, WireType, bool as pb_bool, decode_key, decode_varint, encode_key,
        encode_varint, skip_field, string as pb_string, uint64,
    },
};

use crate::domain::{InvalidInput, Revision};

const REVISION: u32 = 1;
const NOT_MODIFIED: u32 = 2;
const ITEMS: u32 = 3;
const NEXT_CURSOR: u32 = 4;
const ORG_UNKNOWN: u32 = 5;

/// An encoded view that does not parse (e.g. a corrupt L2 value).
#[derive(Debug, thiserror::Error)]
#[error("malformed encoded view: {0}")]
pub struct MalformedView(String);

impl MalformedView {
    fn new(why: &str) -> Self {
        Self(why.to_owned())
    }
}

impl From<DecodeError> for MalformedView {
    fn from(e: DecodeError) -> Self {
        Self(e.to_string())
    }
}

/// One item's place in the encoded body.
#[derive(Debug, Clone)]
struct Item {
    key: Box<str>,
    /// The whole field: tag, length and message.
    field: Range<usize>,
    /// Where the message itself starts within `field`.
    message_start: usize,
}

/// An effective view, encoded.
#[derive(Debug, Clone)]
pub struct EncodedView {
    revision: Revision,
    /// The view's org is not registered (it reads the defaults alone).
    org_unknown: bool,
    body: Bytes,
    items: Vec<Item>,
}

impl EncodedView {
    /// Encodes `items` (sorted by key) as a whole response at `revision`.
    pub fn build<'a, M: Message + 'a>(
        revision: Revision,
        org_unknown: bool,
        items: impl IntoIterator<Item = (&'a str, M)>,
    ) -> Self {
        let mut body = BytesMut::new();
        if revision != 0 {
            uint64::encode(REVISION, &revision, &mut body);
        }
        let mut index = Vec::new();
        for (key, message) in items {
            let start = body.len();
            encode_key(ITEMS, WireType::LengthDelimited, &mut body);
            encode_varint(message.encoded_len() as u64, &mut body);
            let message_start = body.len();
            message.encode_raw(&mut body);
            index.push(Item {
                key: key.into(),
                field: start..body.len(),
                message_start,
            });
        }
        if org_unknown {
            pb_bool::encode(ORG_UNKNOWN, &true, &mut body);
        }
        Self {
            revision,
            org_unknown,
            body: body.freeze(),
            items: index,
        }
    }

    /// Rebuilds a view from the body of [`EncodedView::full`] (as kept in L2): reads the revision
    /// and where each item lies, without decoding the items beyond their key (field 1 of both
    /// `Prompt` and `Resource`).
    pub fn from_body(body: Bytes) -> Result<Self, MalformedView> {
        let mut revision = 0;
        let mut org_unknown = false;
        let mut items = Vec::new();
        let mut rest = &body[..];
        while !rest.is_empty() {
            let start = body.len() - rest.len();
            let (tag, wire_type) = decode_key(&mut rest)?;
            match (tag, wire_type) {
                (REVISION, WireType::Varint) => revision = decode_varint(&mut rest)?,
                (ORG_UNKNOWN, WireType::Varint) => org_unknown = decode_varint(&mut rest)? != 0,
                (ITEMS, WireType::LengthDelimited) => {
                    let len = decode_varint(&mut rest)? as usize;
                    let message_start = body.len() - rest.len();
                    if len > rest.len() {
                        return Err(MalformedView::new("item runs past the end"));
                    }
                    let key = item_key(&rest[..len])?;
                    rest = &rest[len..];
                    items.push(Item {
                        key,
                        field: start..message_start + len,
                        message_start,
                    });
                }
                (tag, wire_type) => {
                    skip_field(wire_type, tag, &mut rest, DecodeContext::default())?
                }
            }
        }
        Ok(Self {
            revision,
            org_unknown,
            body,
            items,
        })
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Approximate bytes held, for the cache's weigher.
    pub fn weight(&self) -> u32 {
        let index: usize = self
            .items
            .iter()
            .map(|i| i.key.len() + size_of::<Item>())
            .sum();
        (self.body.len() + index + size_of::<Self>())
            .try_into()
            .unwrap_or(u32::MAX)
    }

    /// The whole view: no copy, no encoding.
    pub fn full(&self) -> EncodedResponse {
        EncodedResponse(self.body.clone())
    }

    /// The answer to a caller that already holds this revision.
    pub fn not_modified(&self) -> EncodedResponse {
        let mut body = BytesMut::with_capacity(16);
        uint64::encode(REVISION, &self.revision, &mut body);
        pb_bool::encode(NOT_MODIFIED, &true, &mut body);
        EncodedResponse(body.freeze())
    }

    /// Up to `page_size` items after `cursor` (0 = all the rest); the whole view if neither
    /// is given.
    pub fn page(&self, cursor: &str, page_size: usize) -> Result<EncodedResponse, InvalidInput> {
        if cursor.is_empty() && (page_size == 0 || page_size >= self.items.len()) {
            return Ok(self.full());
        }
        let start = if cursor.is_empty() {
            0
        } else {
            let after = CURSOR
                .decode(cursor)
                .ok()
                .and_then(|k| String::from_utf8(k).ok())
                .ok_or_else(|| InvalidInput::new("cursor", "not a cursor this service returned"))?;
            self.items.partition_point(|item| *item.key <= *after)
        };
        let end = if page_size == 0 {
            self.items.len()
        } else {
            (start + page_size).min(self.items.len())
        };
        let mut body = BytesMut::new();
        if self.revision != 0 {
            uint64::encode(REVISION, &self.revision, &mut body);
        }
        if start < end {
            let (first, last) = (&self.items[start], &self.items[end - 1]);
            body.put_slice(&self.body[first.field.start..last.field.end]);
        }
        if end < self.items.len() {
            let next = CURSOR.encode(self.items[end - 1].key.as_bytes());
            pb_string::encode(NEXT_CURSOR, &next, &mut body);
        }
        if self.org_unknown {
            pb_bool::encode(ORG_UNKNOWN, &true, &mut body);
        }
        Ok(EncodedResponse(body.freeze()))
    }

    /// The keys of the view's items, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|item| &*item.key)
    }

    /// The encoded message of the item with `key`, to decode just that one.
    pub fn message(&self, key: &str) -> Option<&[u8]> {
        let i = self
            .items
            .binary_search_by(|item| (*item.key).cmp(key))
            .ok()?;
        let item = &self.items[i];
        Some(&self.body[item.message_start..item.field.end])
    }
}

/// Field 1 (the name or URI) of an encoded item.
fn item_key(mut message: &[u8]) -> Result<Box<str>, MalformedView> {
    while !message.is_empty() {
        let (tag, wire_type) = decode_key(&mut message)?;
        if tag == 1 && wire_type == WireType::LengthDelimited {
            let len = decode_varint(&mut message)? as usize;
            let key = message
                .get(..len)
                .ok_or_else(|| MalformedView::new("key runs past the end"))?;
            return std::str::from_utf8(key)
                .map(Into::into)
                .map_err(|_| MalformedView::new("key is not UTF-8"));
        }
        skip_field(wire_type, tag, &mut message, DecodeContext::default())?;
    }
    Err(MalformedView::new("item without a key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_config_proto::v1::{GetPromptsResponse, Prompt};

    fn prompt(name: &str) -> Prompt {
        Prompt {
            name: name.into(),
            description: format!("about {name}"),
            ..Default::default()
        }
    }

    fn view(names: &[&str]) -> EncodedView {
        EncodedView::build(42, false, names.iter().map(|n| (*n, prompt(n))))
    }

    fn decode(response: EncodedResponse) -> GetPromptsResponse {
        GetPromptsResponse::decode(response.0).unwrap()
    }

    #[test]
    fn the_full_view_is_what_prost_would_encode() {
        let expected = GetPromptsResponse {
            revision: 42,
            prompts: vec![prompt("a"), prompt("b")],
            ..Default::default()
        };
        assert_eq!(view(&["a", "b"]).full().0, expected.encode_to_vec());
    }

    #[test]
    fn pages_walk_the_view_with_cursors() {
        let view = view(&["a", "b", "c", "d", "e"]);
        let mut cursor = String::new();
        let mut seen = Vec::new();
        loop {
            let page = decode(view.page(&cursor, 2).unwrap());
            assert_eq!(page.revision, 42);
            assert!(page.prompts.len() <= 2);
            seen.extend(page.prompts.into_iter().map(|p| p.name));
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn an_unknown_org_is_said_on_the_whole_view_every_page_and_after_l2() {
        let unknown = EncodedView::build(42, true, ["a", "b"].map(|n| (n, prompt(n))));
        let expected = GetPromptsResponse {
            revision: 42,
            prompts: vec![prompt("a"), prompt("b")],
            org_unknown: true,
            ..Default::default()
        };
        assert_eq!(unknown.full().0, expected.encode_to_vec());
        assert!(decode(unknown.page("", 1).unwrap()).org_unknown);
        let rebuilt = EncodedView::from_body(unknown.full().0).unwrap();
        assert_eq!(rebuilt.page("", 1).unwrap(), unknown.page("", 1).unwrap());
        assert!(!decode(view(&["a", "b"]).page("", 1).unwrap()).org_unknown);
    }

    #[test]
    fn a_forged_cursor_is_invalid_input() {
        assert_eq!(view(&["a"]).page("%%%", 1).unwrap_err().field, "cursor");
    }

    #[test]
    fn not_modified_carries_only_the_revision() {
        let answer = decode(view(&["a"]).not_modified());
        assert_eq!(
            (answer.revision, answer.not_modified, answer.prompts.len()),
            (42, true, 0)
        );
    }

    #[test]
    fn a_view_rebuilt_from_its_body_is_the_same_view() {
        let original = view(&["a", "b", "c"]);
        let rebuilt = EncodedView::from_body(original.full().0).unwrap();
        assert_eq!(rebuilt.revision(), 42);
        assert_eq!(rebuilt.page("", 2).unwrap(), original.page("", 2).unwrap());
        assert_eq!(rebuilt.message("b"), original.message("b"));
        assert!(EncodedView::from_body(Bytes::from_static(&[0x1a, 0x05, 0x0a])).is_err());
    }

    #[test]
    fn one_item_can_be_decoded_alone() {
        let view = view(&["a", "b"]);
        assert_eq!(
            Prompt::decode(view.message("b").unwrap()).unwrap(),
            prompt("b")
        );
        assert!(view.message("c").is_none());
    }
}
