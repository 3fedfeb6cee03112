//! The payload formats: how an [`Event`] is written for each receiver, following each
//! service's documented webhook API.
//!
//! - `json`: the generic body ([`Event`] serialized), to the URL as given.
//! - `slack` (Slack incoming webhooks): `text` (the notification's fallback) and `blocks`
//!   (a `section` with the details, a `context` with the time), mrkdwn with `&`, `<`, `>`
//!   escaped as Slack asks.
//! - `discord` (Discord execute webhook): one embed (`title`, `description`, `color`,
//!   `timestamp`), `allowed_mentions` empty so a reason never pings anyone.
//! - `ntfy` (ntfy JSON publishing): `topic`, `title`, `message`, `priority`, `tags`,
//!   POSTed to the server's root; the URL given is the topic's URL
//!   (`https://ntfy.sh/TOPIC`), as ntfy documents it for publishing.
//! - `gotify` (Gotify `POST /message`): `title`, `message`, `priority`; the application
//!   token, given in the URL as `?token=...`, is sent in the `X-Gotify-Key` header instead
//!   of the query, so no proxy or server log keeps it (`/message` is appended to a URL
//!   that lacks it).
//!
//! Every text passes through [`crate::redact`] before it is sent.

use serde_json::{Value, json};

use super::event::{Event, Severity};
use crate::redact::{self, Url};

/// Discord's longest embed description; Slack's longest section text is 3000.
const DISCORD_DESCRIPTION: usize = 4096;
/// Slack's longest section text.
const SLACK_SECTION: usize = 3000;
/// Discord's longest embed title.
const DISCORD_TITLE: usize = 256;

/// A payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The generic JSON body.
    Json,
    /// Slack incoming webhook.
    Slack,
    /// Discord webhook.
    Discord,
    /// ntfy topic.
    Ntfy,
    /// Gotify application.
    Gotify,
}

/// The names the `format` setting takes (`auto` guesses from the URL).
pub const NAMES: &str = "auto, json, slack, discord, ntfy, gotify";

impl Format {
    /// The format named `name` (`json`, `slack`, `discord`, `ntfy`, `gotify`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "json" => Self::Json,
            "slack" => Self::Slack,
            "discord" => Self::Discord,
            "ntfy" => Self::Ntfy,
            "gotify" => Self::Gotify,
            _ => return None,
        })
    }

    /// The format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Ntfy => "ntfy",
            Self::Gotify => "gotify",
        }
    }

    /// The format a URL's host says: `hooks.slack.com` is Slack, `discord.com/api/webhooks`
    /// is Discord, `ntfy.sh` is ntfy, anything else the generic JSON (a self-hosted ntfy or
    /// Gotify needs the setting or a `ntfy+https://` / `gotify+https://` URL).
    pub fn guess(url: &Url) -> Self {
        let Some(parts) = url.http_parts() else {
            return Self::Json;
        };
        let host = parts.host.to_ascii_lowercase();
        match host.as_str() {
            "hooks.slack.com" => Self::Slack,
            "discord.com" | "discordapp.com" | "ptb.discord.com" | "canary.discord.com"
                if parts.path.starts_with("/api/webhooks/") =>
            {
                Self::Discord
            }
            "ntfy.sh" => Self::Ntfy,
            _ => Self::Json,
        }
    }

    /// Splits a `FORMAT+https://...` URL into its format and the URL without the prefix.
    pub fn split_scheme(text: &str) -> Option<(Self, &str)> {
        let (format, rest) = text.split_once('+')?;
        let format = Self::from_name(format)?;
        (rest.starts_with("http://") || rest.starts_with("https://")).then_some((format, rest))
    }

    /// The URL to POST to and the JSON body for `event`.
    pub fn render(self, url: &Url, event: &Event) -> (Url, Vec<u8>) {
        let body = match self {
            Self::Json => redact::to_json(event),
            Self::Slack => slack(event),
            Self::Discord => discord(event),
            Self::Ntfy => return ntfy(url, event),
            Self::Gotify => gotify(event),
        };
        let url = match self {
            Self::Gotify => gotify_url(url),
            _ => url.clone(),
        };
        (url, to_bytes(&body))
    }
}

fn to_bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).expect("a JSON value always serializes")
}

/// Redacted `text`, cut to `max` characters (an ellipsis marks the cut).
fn clean(text: &str, max: usize) -> String {
    let text = redact::text(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Slack's mrkdwn control characters escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(event: &Event) -> Value {
    let emoji = match event.event.severity() {
        Severity::Info => ":arrows_counterclockwise:",
        Severity::Good => ":white_check_mark:",
        Severity::Bad => ":rotating_light:",
    };
    let title = slack_escape(&clean(&event.title(), 300));
    let details = slack_escape(&clean(&event.details(), SLACK_SECTION - 400));
    let text = format!("{emoji} *{title}*\n{details}");
    json!({
        "text": format!("{emoji} {title}"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("composectl · {} · {}", event.event.as_str(), event.at)}
            ]}
        ]
    })
}

fn discord(event: &Event) -> Value {
    let color = match event.event.severity() {
        Severity::Info => 0x3B82F6,
        Severity::Good => 0x22C55E,
        Severity::Bad => 0xEF4444,
    };
    json!({
        "username": "composectl",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": clean(&event.title(), DISCORD_TITLE),
            "description": clean(&event.details(), DISCORD_DESCRIPTION),
            "color": color,
            "timestamp": event.at,
            "footer": {"text": format!("composectl · {}", event.event.as_str())}
        }]
    })
}

/// ntfy priority (1 min .. 5 max) and tags (emoji short codes) of an event.
fn ntfy_look(event: &Event) -> (u8, &'static str) {
    match event.event.severity() {
        Severity::Info => (2, "arrows_counterclockwise"),
        Severity::Good => (3, "white_check_mark"),
        Severity::Bad => (4, "rotating_light"),
    }
}

fn ntfy(url: &Url, event: &Event) -> (Url, Vec<u8>) {
    let text = url.expose();
    let (scheme, rest) = text.split_once("://").unwrap_or(("https", text));
    let (before_query, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let before_query = before_query.trim_end_matches('/');
    let (root, topic) = match before_query.split_once('/') {
        Some(_) => before_query
            .rsplit_once('/')
            .map_or((before_query, ""), |(root, topic)| (root, topic)),
        None => (before_query, ""),
    };
    let mut root = format!("{scheme}://{root}/");
    if let Some(query) = query {
        root.push('?');
        root.push_str(query);
    }
    let (priority, tag) = ntfy_look(event);
    let body = json!({
        "topic": redact::percent_decode(topic),
        "title": clean(&event.title(), 250),
        "message": clean(&event.details(), 4000),
        "priority": priority,
        "tags": [tag, event.event.as_str()],
    });
    (url.derive(root), to_bytes(&body))
}

/// Gotify priority (0..10; 8 and up alert on Android) of an event.
fn gotify_priority(event: &Event) -> u8 {
    match event.event.severity() {
        Severity::Info => 2,
        Severity::Good => 4,
        Severity::Bad => 8,
    }
}

fn gotify(event: &Event) -> Value {
    json!({
        "title": clean(&event.title(), 250),
        "message": clean(&event.details(), 4000),
        "priority": gotify_priority(event),
        "extras": {"client::display": {"contentType": "text/plain"}}
    })
}

impl Format {
    /// Moves a credential out of the URL into a header where the service takes one: for
    /// Gotify, the `token` query parameter becomes `X-Gotify-Key`. Other formats: the URL
    /// as it is, no header.
    pub fn credential_header(self, url: &Url) -> (Url, Vec<(&'static str, String)>) {
        if self != Self::Gotify {
            return (url.clone(), Vec::new());
        }
        let text = url.expose();
        let Some((path, query)) = text.split_once('?') else {
            return (url.clone(), Vec::new());
        };
        let mut token = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix("token=") {
                Some(value) if token.is_none() => {
                    token = Some(redact::percent_decode(value));
                    false
                }
                _ => true,
            })
            .collect();
        let Some(token) = token else {
            return (url.clone(), Vec::new());
        };
        let bare = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        (url.derive(bare), vec![("X-Gotify-Key", token)])
    }
}

/// The `/message` endpoint of a Gotify URL (the path gets `/message` unless it ends so).
fn gotify_url(url: &Url) -> Url {
    let text = url.expose();
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let path = path.trim_end_matches('/');
    let mut out = if path.ends_with("/message") {
        path.to_owned()
    } else {
        format!("{path}/message")
    };
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    url.derive(out)
}
