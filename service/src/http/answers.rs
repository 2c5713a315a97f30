//! The error answers the admin routes document, grouped by what gives them: the middleware and
//! extractors every route has, a missing entry, a conflicting write, a body. A route lists the
//! groups that apply to it rather than five statuses each time; every answer has the one
//! [`ErrorBody`].

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses, ToSchema,
    openapi::{
        ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
        header::HeaderBuilder,
    },
};

use super::error::ErrorBody;

/// An error answer with the error body.
fn error(description: &str) -> ResponseBuilder {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
}

/// Answers by status.
fn answers<const N: usize>(
    answers: [(u16, ResponseBuilder); N],
) -> BTreeMap<String, RefOr<Response>> {
    answers
        .into_iter()
        .map(|(status, answer)| (status.to_string(), answer.build().into()))
        .collect()
}

/// The error answers every admin route can give: from the authentication middleware, the rate
/// limiter, the path and query extractors, the permission checks and the store.
pub(crate) struct Refusals;

impl IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let retry_after = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some("seconds to wait before trying again"))
            .build();
        answers([
            (
                400,
                error("the request is not valid; `field` names the input at fault"),
            ),
            (401, error("no valid credentials")),
            (403, error("the credentials do not give this right")),
            (
                429,
                error("too many requests from this token subject")
                    .header("Retry-After", retry_after),
            ),
            (
                503,
                error("the store (or, for a render, a render slot) is unavailable"),
            ),
        ])
    }
}

/// Declares a group of one error answer: `status` with the error body, described.
macro_rules! one_answer {
    ($group:ident, $status:literal, $description:literal) => {
        #[doc = concat!("The ", stringify!($status), " answer: ", $description, ".")]
        pub(crate) struct $group;

        impl IntoResponses for $group {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                answers([($status, error($description))])
            }
        }
    };
}

one_answer!(NotFound, 404, "no such entry, version or org");
one_answer!(
    Conflict,
    409,
    "the write expected another version (the answer has `current_version`), or the org already exists"
);
one_answer!(TooLarge, 413, "the body is over the limit");
one_answer!(NotJson, 415, "a JSON body sent without a JSON content type");
one_answer!(
    RenderFailed,
    422,
    "the prompt did not render within its limits"
);
