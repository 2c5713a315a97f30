//! The read path: effective views through the cache, prompts rendered, resources read.

use std::{collections::HashMap, sync::Arc};

use mcp_config_proto::{
    EncodedResponse,
    v1::{self, GetPromptResponse, ReadResourceResponse, ResourceContents},
};
use prost::Message;
use serde::de::DeserializeOwned;

use crate::{
    cache::ViewCache,
    content::{MAX_CONTENT_BYTES, PromptContent, ResourceContent},
    domain::{
        EntryId, EntryKey, InvalidInput, Kind, Revision, UriPattern, ViewKey, is_uri_template,
    },
    error::{Error, Result},
    redis::{L2, L2Error},
    render::RenderError,
    renderer::Renderer,
    resolve::{EffectiveView, resolve},
    store::{Store, StoreError, ViewRow},
    wire::EncodedView,
};

/// Most bytes of resources one rendered prompt embeds by URI.
pub const MAX_EMBEDDED_BYTES: usize = 4 * MAX_CONTENT_BYTES;

/// A list request, parsed.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub key: ViewKey,
    pub known_revision: Revision,
    pub page_size: usize,
    pub cursor: String,
}

#[derive(Clone)]
pub struct Views {
    store: Store,
    cache: ViewCache,
    l2: Option<L2>,
    renderer: Renderer,
}

impl Views {
    pub fn new(store: Store, cache: ViewCache, l2: Option<L2>, renderer: Renderer) -> Self {
        Self {
            store,
            cache,
            l2,
            renderer,
        }
    }

    pub fn cache(&self) -> &ViewCache {
        &self.cache
    }

    /// The encoded view of `key`, from the cache or loaded once.
    pub async fn view(&self, key: &ViewKey) -> Result<Arc<EncodedView>> {
        self.cache
            .get_or_load(key, || self.load(key))
            .await
            .map_err(|shared| (*shared).clone())
    }

    /// A list response: `not_modified` if the caller holds the current revision, else the
    /// requested page (the whole view by default).
    pub async fn list(&self, query: &ListQuery) -> Result<EncodedResponse> {
        let view = self.view(&query.key).await?;
        if query.known_revision != 0 && query.known_revision == view.revision() {
            return Ok(view.not_modified());
        }
        Ok(view.page(&query.cursor, query.page_size)?)
    }

    /// One prompt of the view, as stored (its messages templates).
    pub async fn prompt(&self, key: &ViewKey, name: &EntryKey) -> Result<v1::Prompt> {
        decode_item(&*self.view(key).await?, name, key)
    }

    /// One resource (or resource template) of the view, as stored.
    pub async fn resource(&self, key: &ViewKey, uri: &EntryKey) -> Result<v1::Resource> {
        decode_item(&*self.view(key).await?, uri, key)
    }

    /// One prompt of the view, rendered with `arguments`, its embedded resources read.
    pub async fn render_prompt(
        &self,
        key: &ViewKey,
        name: &EntryKey,
        arguments: HashMap<String, String>,
    ) -> Result<GetPromptResponse> {
        let view = self.view(key).await?;
        let prompt = Arc::new(decode_item::<v1::Prompt>(&view, name, key)?);
        let messages = self.render_messages(key, prompt.clone(), arguments).await?;
        Ok(GetPromptResponse {
            description: prompt.description.clone(),
            messages,
            revision: view.revision(),
        })
    }

    /// `prompt`'s messages rendered with `arguments` for the view `key` (any version of it:
    /// previews render old ones), its embedded resources read from the view.
    pub async fn render_messages(
        &self,
        key: &ViewKey,
        prompt: Arc<v1::Prompt>,
        arguments: HashMap<String, String>,
    ) -> Result<Vec<v1::PromptMessage>> {
        let mut messages = self
            .renderer
            .render(key.scope.as_str(), prompt, arguments)
            .await?;
        self.embed_resources(key, &mut messages).await?;
        Ok(messages)
    }

    /// Reads, in the org's view of the server, every embedded resource of `messages` that
    /// refers to one by URI (a rendered URI: it may come from the caller's arguments).
    ///
    /// Bounded as one render is: all of them within the render deadline (a URI read through a
    /// template is a render of its own), each URI read once, and at most
    /// [`MAX_EMBEDDED_BYTES`] embedded in one answer.
    async fn embed_resources(
        &self,
        prompts: &ViewKey,
        messages: &mut [v1::PromptMessage],
    ) -> Result<()> {
        let resources = ViewKey {
            kind: Kind::Resources,
            ..prompts.clone()
        };
        let deadline = self.renderer.deadline();
        let until = tokio::time::Instant::now() + deadline;
        let mut read: HashMap<String, Option<ResourceContents>> = HashMap::new();
        let mut embedded_bytes = 0;
        for (i, message) in messages.iter_mut().enumerate() {
            let Some(v1::prompt_message::Content::Resource(embedded)) = &mut message.content else {
                continue;
            };
            if embedded.contents.is_some() {
                continue;
            }
            let field = || format!("messages[{i}].resource.uri");
            let found = match read.get(&embedded.uri) {
                Some(found) => found.clone(),
                None => {
                    let uri = EntryKey::parse(Kind::Resources, &embedded.uri)
                        .map_err(|e| InvalidInput::new(field(), e.message))?;
                    let answer =
                        tokio::time::timeout_at(until, self.read_resource(&resources, &uri))
                            .await
                            .map_err(|_| RenderError::TimedOut(deadline))??;
                    let found = answer.contents.into_iter().next();
                    read.insert(embedded.uri.clone(), found.clone());
                    found
                }
            };
            let Some(found) = found else {
                continue;
            };
            embedded_bytes += found.encoded_len();
            if embedded_bytes > MAX_EMBEDDED_BYTES {
                return Err(InvalidInput::new(
                    field(),
                    format!("the prompt's embedded resources are larger than {MAX_EMBEDDED_BYTES} bytes together"),
                )
                .into());
            }
            embedded.contents = found.contents;
            if embedded.mime_type.is_empty() {
                embedded.mime_type = found.mime_type;
            }
        }
        Ok(())
    }

    /// One resource's contents: the resource at `uri`, or else the first resource template
    /// (in URI order) that `uri` matches, its text rendered with the URI's variables.
    pub async fn read_resource(
        &self,
        key: &ViewKey,
        uri: &EntryKey,
    ) -> Result<ReadResourceResponse> {
        let view = self.view(key).await?;
        let (resource, contents) = match self.template_for(&view, uri) {
            // A template's own URI is no resource: reading it would show its source.
            None if UriPattern::cached(uri.as_str()).is_some() => {
                return Err(not_found(uri, key));
            }
            None => {
                let resource = decode_item::<v1::Resource>(&view, uri, key)?;
                let contents = resource.contents.clone();
                (resource, contents)
            }
            Some((template, variables)) => {
                let resource = decode_item::<v1::Resource>(&view, &template, key)?;
                let contents = match resource.contents.clone() {
                    Some(v1::resource::Contents::Text(text)) => {
                        let declared = variables.keys().map(|v| (v.clone(), true)).collect();
                        let rendered = self
                            .renderer
                            .render_texts(key.scope.as_str(), vec![text], declared, variables)
                            .await?;
                        rendered
                            .into_iter()
                            .next()
                            .map(v1::resource::Contents::Text)
                    }
                    blob => blob,
                };
                (resource, contents)
            }
        };
        let contents = contents.map(|c| match c {
            v1::resource::Contents::Text(text) => v1::resource_contents::Contents::Text(text),
            v1::resource::Contents::Blob(blob) => v1::resource_contents::Contents::Blob(blob),
        });
        Ok(ReadResourceResponse {
            contents: vec![ResourceContents {
                uri: uri.as_str().to_owned(),
                mime_type: resource.mime_type,
                contents,
            }],
            revision: view.revision(),
        })
    }

    /// A fingerprint of what serves `uri` in the view `key`: the resource's encoded entry, or
    /// that of the resource template it matches (the same entry renders the same for the same
    /// URI); `None` when nothing does. Nothing is rendered, so watching a resource costs no
    /// render, however many watch it.
    pub async fn resource_fingerprint(&self, key: &ViewKey, uri: &EntryKey) -> Result<Option<u64>> {
        let view = self.view(key).await?;
        let entry = self
            .template_for(&view, uri)
            .map_or_else(|| uri.clone(), |(template, _)| template);
        Ok(view.message(entry.as_str()).map(|bytes| {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(bytes, &mut hasher);
            std::hash::Hasher::finish(&hasher)
        }))
    }

    /// The resource template of `view` that `uri` is read through, with its variables: none
    /// when `uri` is a resource of its own. A template's own URI is neither (not found).
    fn template_for(
        &self,
        view: &EncodedView,
        uri: &EntryKey,
    ) -> Option<(EntryKey, HashMap<String, String>)> {
        let uri = uri.as_str();
        if UriPattern::cached(uri).is_none() && view.message(uri).is_some() {
            return None;
        }
        view.keys()
            .filter(|k| is_uri_template(k))
            .find_map(|template| {
                let variables = UriPattern::cached(template)?.matches(uri)?;
                Some((EntryKey::parse(Kind::Resources, template).ok()?, variables))
            })
    }

    /// The resource templates of the view `key`, decoded (the other resources are not).
    pub async fn resource_templates(&self, key: &ViewKey) -> Result<Vec<v1::Resource>> {
        let view = self.view(key).await?;
        view.keys()
            .filter(|k| UriPattern::cached(k).is_some())
            .map(|template| {
                let template = EntryKey::parse(Kind::Resources, template)?;
                decode_item(&view, &template, key)
            })
            .collect()
    }
}

fn not_found(item: &EntryKey, key: &ViewKey) -> Error {
    Error::NotFound(
        EntryId {
            scope: key.scope.clone(),
            server: key.server.clone(),
            kind: key.kind,
            key: item.clone(),
        }
        .to_string(),
    )
}

fn decode_item<M: Message + Default>(
    view: &EncodedView,
    item: &EntryKey,
    key: &ViewKey,
) -> Result<M> {
    let bytes = view
        .message(item.as_str())
        .ok_or_else(|| not_found(item, key))?;
    M::decode(bytes).map_err(|e| StoreError::Corrupt(item.to_string(), e.to_string()).into())
}

impl Views {
    /// What an L1 miss does: the view from L2, or loaded, merged and encoded from the store
    /// (and then shared through L2). Redis failing is logged and read around, never fatal.
    async fn load(&self, key: &ViewKey) -> Result<EncodedView> {
        // Only production views are shared through L2 (`Label::is_production`).
        let l2 = self.l2.as_ref().filter(|_| key.label.is_production());
        if let Some(l2) = l2 {
            match l2.get(key).await {
                Ok(Some(body)) => match EncodedView::from_body(body) {
                    Ok(view) => {
                        metrics::counter!(crate::metrics::L2_HITS).increment(1);
                        return Ok(view);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable view in L2; loading from the store")
                    }
                },
                Ok(None) => metrics::counter!(crate::metrics::L2_MISSES).increment(1),
                Err(e) => l2_failed(&e, "L2 read failed; loading from the store"),
            }
        }
        let (encoded, snapshot) = load_from_store(&self.store, key).await?;
        if let Some(l2) = l2
            && let Err(e) = l2.put(key, encoded.full().0, snapshot).await
        {
            l2_failed(&e, "L2 write failed");
        }
        Ok(encoded)
    }
}

/// Counts a failed L2 call; logs it unless the breaker skipped it (a rested L2 would otherwise
/// log every read).
fn l2_failed(error: &L2Error, what: &str) {
    if matches!(error, L2Error::Resting) {
        metrics::counter!(crate::metrics::L2_SKIPPED).increment(1);
    } else {
        metrics::counter!(crate::metrics::L2_ERRORS).increment(1);
        tracing::warn!(%error, "{what}");
    }
}

/// Loads, merges and encodes one view from the store, with no cache involved; returns it and
/// the global revision it was read at.
pub async fn load_from_store(store: &Store, key: &ViewKey) -> Result<(EncodedView, Revision)> {
    let start = std::time::Instant::now();
    let loaded = store.load_view(key).await?;
    let snapshot = loaded.snapshot;
    let encoded = merge_and_encode(key.kind, loaded.rows, loaded.org_unknown)?;
    metrics::histogram!(crate::metrics::STORE_LOAD_SECONDS).record(start.elapsed().as_secs_f64());
    Ok((encoded, snapshot))
}

/// Merges a view's rows (defaults and the org's overrides) and encodes the result.
pub fn merge_and_encode(kind: Kind, rows: Vec<ViewRow>, org_unknown: bool) -> Result<EncodedView> {
    let view = resolve(rows);
    match kind {
        Kind::Prompts => encode(&view, org_unknown, PromptContent::to_proto),
        Kind::Resources => encode(&view, org_unknown, ResourceContent::to_proto),
    }
}

fn encode<C: DeserializeOwned, M: Message>(
    view: &EffectiveView,
    org_unknown: bool,
    to_proto: fn(&C, &str) -> M,
) -> Result<EncodedView> {
    let items = view
        .entries
        .iter()
        .map(|(key, body)| {
            let content: C = serde_json::from_str(body)
                .map_err(|e| Error::from(StoreError::Corrupt(key.clone(), e.to_string())))?;
            Ok((key.as_str(), to_proto(&content, key)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EncodedView::build(view.revision, org_unknown, items))
}
