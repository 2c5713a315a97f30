//! A response message whose wire bytes were produced ahead of time.
//!
//! A cached effective view is encoded once, when it is loaded; every hit then answers with a
//! refcounted clone of those bytes. Sending them costs one copy into tonic's frame buffer, never a
//! walk over the message tree.

use bytes::{Buf, BufMut, Bytes};
use prost::{
    DecodeError, Message,
    encoding::{DecodeContext, WireType, skip_field},
};

/// The body of a protobuf message, already encoded (without a length prefix).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedResponse(pub Bytes);

impl EncodedResponse {
    /// Encodes `message` once.
    pub fn encode(message: &impl Message) -> Self {
        Self(Bytes::from(message.encode_to_vec()))
    }
}

impl Message for EncodedResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    /// The service only sends these; a peer that decodes into one gets an empty body.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{GetPromptsResponse, Prompt};

    #[test]
    fn pre_encoded_bytes_decode_as_the_original_message() {
        let original = GetPromptsResponse {
            revision: 7,
            prompts: vec![Prompt {
                name: "review".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let encoded = EncodedResponse::encode(&original);
        let sent = encoded.encode_to_vec();
        assert_eq!(
            GetPromptsResponse::decode(sent.as_slice()).unwrap(),
            original
        );
    }
}
