//! Where a prompt message keeps its templates: the service renders them, and so does a client
//! that renders locally while the service cannot be reached; both find them here.

use crate::v1::{PromptMessage, prompt_message::Content, resource_contents::Contents};

impl PromptMessage {
    /// The message's template strings, in the order the service renders them: a text
    /// message's text; an embedded resource's URI, then its text; a resource link's URI.
    /// Images and audio have none.
    pub fn templates_mut(&mut self) -> Vec<&mut String> {
        match &mut self.content {
            None => vec![&mut self.text],
            Some(Content::Image(_) | Content::Audio(_)) => Vec::new(),
            Some(Content::Resource(resource)) => {
                let mut templates = vec![&mut resource.uri];
                if let Some(Contents::Text(text)) = &mut resource.contents {
                    templates.push(text);
                }
                templates
            }
            Some(Content::ResourceLink(link)) => vec![&mut link.uri],
        }
    }
}
