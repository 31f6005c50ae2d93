//! Markdown → HTML for the HTML part of an alert mail, safe to open in any mail client.
//!
//! pulldown-cmark renders CommonMark (the alert templates' headings, lists, bold, quotes,
//! links); on top of it, what a template or a job's error text could smuggle in is defused:
//! raw HTML is escaped and shown as text, links keep only `http:`, `https:` and `mailto:`
//! targets, and images become links (a mail client would otherwise fetch them on open).

use pulldown_cmark::{html, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

/// Renders `markdown` as an HTML fragment (no `<html>` wrapper), raw HTML escaped.
///
/// ```
/// let html = alert_email::html::markdown_to_html("**FAILED** <script>x</script> [ui](javascript:alert(1))");
/// assert!(html.contains("<strong>FAILED</strong>"));
/// assert!(html.contains("&lt;script&gt;") && !html.contains("javascript:"));
/// ```
pub fn markdown_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // Raw HTML is shown as the text it is.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            dest_url,
            title,
            id,
            ..
        }) => Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// The URL when its scheme is `http`, `https` or `mailto`; `#` otherwise.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim_start().to_ascii_lowercase();
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s))
    {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

/// A whole HTML document around `fragment`, with the title escaped.
pub fn document(title: &str, fragment: &str) -> String {
    let mut escaped = String::with_capacity(title.len());
    // A text event is escaped by the HTML writer: the same rules as the body.
    html::push_html(&mut escaped, std::iter::once(Event::Text(title.into())));
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escaped}</title></head>\n<body style=\"font-family: sans-serif; line-height: 1.5\">\n{fragment}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_markdown_renders_as_html() {
        let html = markdown_to_html(
            "### 🔴 Job\n- **Status**: FAILED\n\n> java.lang.Exception: x\n\n[Open](http://flink:8081/#/job/1)",
        );
        assert!(html.contains("<h3>🔴 Job</h3>"), "{html}");
        assert!(
            html.contains("<li><strong>Status</strong>: FAILED</li>"),
            "{html}"
        );
        assert!(html.contains("<blockquote>"), "{html}");
        assert!(
            html.contains("<a href=\"http://flink:8081/#/job/1\">Open</a>"),
            "{html}"
        );
    }

    #[test]
    fn html_scripts_and_dangerous_links_are_defused() {
        let html = markdown_to_html(
            "<img src=x onerror=alert(1)>\n\n<b>bold</b> [a](JavaScript:alert(1)) ![pix](http://t/p.png) [d](data:text/html,x)",
        );
        assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("javascript:"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(
            html.contains("<a href=\"http://t/p.png\">pix</a>"),
            "{html}"
        );
    }

    #[test]
    fn document_escapes_the_title() {
        let doc = document("<x> & \"y\"", "<p>b</p>\n");
        assert!(
            doc.contains("<title>&lt;x&gt; &amp; \"y\"</title>"),
            "{doc}"
        );
    }
}
