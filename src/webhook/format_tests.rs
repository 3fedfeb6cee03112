//! Each format's body checked against the shape its service documents.

use serde_json::{Value, json};

use super::format::Format;
use super::test_receiver::{load_failed, rolled_back};
use super::*;

fn render(format: Format, url: &str, event: &Event) -> (String, Value) {
    let (url, body) = format.render(&Url::new(url), event);
    (
        url.expose().to_owned(),
        serde_json::from_slice(&body).unwrap(),
    )
}

#[test]
fn slack_gets_a_text_fallback_and_mrkdwn_blocks() {
    let url = "https://hooks.slack.com/services/T0/B0/secret";
    let (to, body) = render(Format::Slack, url, &rolled_back());
    assert_eq!(to, url);
    assert_eq!(
        body["text"],
        ":rotating_light: shop/web: rollout rolled back"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[0]["text"]["text"],
        ":rotating_light: *shop/web: rollout rolled back*\n\
         revision 4 (shop/web:1.5); revision 3 is the one to go back to\n\
         gate prometheus failed: 5xx ratio 0.21 &gt; 0.05"
    );
    assert_eq!(blocks[1]["type"], "context");
    assert_eq!(blocks[1]["elements"][0]["type"], "mrkdwn");
    assert_eq!(
        blocks[1]["elements"][0]["text"],
        "composectl · rolled_back · 2024-05-01T12:30:05Z"
    );
}

#[test]
fn discord_gets_one_embed_and_no_mentions() {
    let url = "https://discord.com/api/webhooks/1/tok";
    let (to, body) = render(Format::Discord, url, &load_failed());
    assert_eq!(to, url);
    assert_eq!(
        body,
        json!({
            "username": "composectl",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "shop: fails to load",
                "description": "compose.yaml: line 3: mapping values are not allowed here",
                "color": 0xEF4444,
                "timestamp": "2024-05-01T12:30:05Z",
                "footer": {"text": "composectl · load_failed"}
            }]
        })
    );
    assert!(body.get("content").is_none());
}

#[test]
fn discord_texts_are_cut_to_its_limits() {
    let mut event = load_failed();
    event.project = "p".repeat(300);
    event.reason = Some("r".repeat(5000));
    let (_, body) = render(
        Format::Discord,
        "https://discord.com/api/webhooks/1/t",
        &event,
    );
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"].as_str().unwrap().chars().count(), 256);
    assert_eq!(embed["description"].as_str().unwrap().chars().count(), 4096);
    assert!(embed["description"].as_str().unwrap().ends_with('…'));
}

#[test]
fn ntfy_posts_json_to_the_server_root_with_the_topic_in_the_body() {
    let (to, body) = render(Format::Ntfy, "https://ntfy.sh/ops-alerts", &rolled_back());
    assert_eq!(to, "https://ntfy.sh/");
    assert_eq!(
        body,
        json!({
            "topic": "ops-alerts",
            "title": "shop/web: rollout rolled back",
            "message": "revision 4 (shop/web:1.5); revision 3 is the one to go back to\n\
                        gate prometheus failed: 5xx ratio 0.21 > 0.05",
            "priority": 4,
            "tags": ["rotating_light", "rolled_back"],
        })
    );
    // A server under a path, with an access token in the query.
    let (to, body) = render(
        Format::Ntfy,
        "http://10.0.0.2:8080/ntfy/ops/?auth=tk",
        &rolled_back(),
    );
    assert_eq!(to, "http://10.0.0.2:8080/ntfy/?auth=tk");
    assert_eq!(body["topic"], "ops");
}

#[test]
fn ntfy_and_gotify_priorities_follow_the_severity() {
    let mut event = rolled_back();
    event.event = EventKind::Promoted;
    event.reason = None;
    let (_, ntfy) = render(Format::Ntfy, "https://ntfy.sh/t", &event);
    assert_eq!(
        (ntfy["priority"].as_u64(), &ntfy["tags"][0]),
        (Some(3), &json!("white_check_mark"))
    );
    let (_, gotify) = render(Format::Gotify, "https://g/message?token=t", &event);
    assert_eq!(gotify["priority"], 4);
    event.event = EventKind::Started;
    let (_, ntfy) = render(Format::Ntfy, "https://ntfy.sh/t", &event);
    assert_eq!(ntfy["priority"], 2);
    assert_eq!(
        ntfy["message"],
        "revision 4 (shop/web:1.5) replaces revision 3"
    );
}

#[test]
fn gotify_posts_title_message_and_priority_to_message_with_the_token() {
    let (to, body) = render(
        Format::Gotify,
        "https://push.example.com/message?token=AppTok",
        &load_failed(),
    );
    assert_eq!(to, "https://push.example.com/message?token=AppTok");
    assert_eq!(
        body,
        json!({
            "title": "shop: fails to load",
            "message": "compose.yaml: line 3: mapping values are not allowed here",
            "priority": 8,
            "extras": {"client::display": {"contentType": "text/plain"}}
        })
    );
    for (given, posted) in [
        (
            "https://push.example.com?token=T",
            "https://push.example.com/message?token=T",
        ),
        (
            "https://push.example.com/gotify/?token=T",
            "https://push.example.com/gotify/message?token=T",
        ),
    ] {
        assert_eq!(render(Format::Gotify, given, &load_failed()).0, posted);
    }
}

#[test]
fn json_is_the_event_itself() {
    let (to, body) = render(Format::Json, "http://h/x?y=1", &rolled_back());
    assert_eq!(to, "http://h/x?y=1");
    let back: Event = serde_json::from_value(body).unwrap();
    assert_eq!(back, rolled_back());
}

#[test]
fn only_gotify_moves_its_token_from_the_query_into_a_header() {
    let url = Url::new("https://push.example.com/message?token=T%2B1&x=y");
    let (bare, headers) = Format::Gotify.credential_header(&url);
    assert_eq!(bare.expose(), "https://push.example.com/message?x=y");
    assert_eq!(headers, vec![("X-Gotify-Key", "T+1".to_owned())]);
    let plain = Url::new("https://push.example.com/message");
    assert!(Format::Gotify.credential_header(&plain).1.is_empty());
    let ntfy = Url::new("https://ntfy.sh/topic?token=T");
    let (same, none) = Format::Ntfy.credential_header(&ntfy);
    assert_eq!(same.expose(), ntfy.expose());
    assert!(none.is_empty());
}
