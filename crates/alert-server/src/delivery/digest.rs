//! Digest messages: many waiting alerts for one paced instance, folded into one message.

use alert_core::{Alert, JobEvent, Severity};
use serde::{Deserialize, Serialize};

/// What a digest (or a delivery folded into one) contributes: one line per job change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLine {
    /// `orders_etl: RUNNING → FAILED (prod, 2026-11-25 10:00:00 +08:00)`
    pub line: String,
    /// The change's severity.
    pub severity: Severity,
}

impl DigestLine {
    /// The line for one event.
    pub fn from_event(e: &JobEvent) -> Self {
        let change = match e.previous_status {
            Some(prev) => format!("{prev} → {}", e.status),
            None => e.status.to_string(),
        };
        let cluster = if e.cluster.is_empty() {
            String::new()
        } else {
            format!("{}, ", e.cluster)
        };
        Self {
            line: format!(
                "{}: {change} ({cluster}{})",
                e.job_name,
                e.occurred_at.format("%Y-%m-%d %H:%M:%S %:z")
            ),
            severity: e.severity(),
        }
    }
}

/// A stored digest message: the rendered alert and the lines it lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestPayload {
    /// Title.
    pub title: String,
    /// Plain-text body.
    pub text: String,
    /// Markdown body.
    pub markdown: String,
    /// Highest severity of the lines.
    pub severity: Severity,
    /// Every line, including those cut from the bodies (a later digest may fold this one).
    pub lines: Vec<DigestLine>,
}

impl DigestPayload {
    /// Builds the digest of `lines`, each body at most `max_bytes` (cut at a line, with the
    /// count of the rest).
    pub fn new(lines: Vec<DigestLine>, max_bytes: Option<usize>) -> Self {
        let n = lines.len();
        let severity = lines
            .iter()
            .map(|l| l.severity)
            .max()
            .unwrap_or(Severity::Info);
        let title = format!("[Flink] {n} 个作业状态变化 / {n} job changes");
        let text = listing(&header_text(n), &lines, max_bytes);
        let markdown = listing(&header_md(n), &lines, max_bytes);
        Self {
            title,
            text,
            markdown,
            severity,
            lines,
        }
    }

    /// The digest of as many leading `groups` (the lines of one folded delivery each, in order)
    /// as fit in `max_bytes` with the note that the rest stays queued: never a job change cut
    /// from a message. Returns it and how many groups it takes: at least one (a first group
    /// that alone is over the limit, which only a digest stored by an older version can be, is
    /// cut as [`Self::new`] cuts).
    pub fn fitting(groups: &[Vec<DigestLine>], max_bytes: Option<usize>) -> (Self, usize) {
        let Some(limit) = max_bytes else {
            return (Self::new(groups.concat(), None), groups.len());
        };
        let total: usize = groups.iter().map(Vec::len).sum();
        // Bounds on the header and the queued note: their numbers never exceed `total`.
        let fixed = header_md(total).len().max(header_text(total).len()) + queued_note(total).len();
        let mut used = fixed;
        let mut taken = 0;
        for group in groups {
            let size: usize = group.iter().map(|l| entry(l).len()).sum();
            if taken > 0 && used + size > limit {
                break;
            }
            used += size;
            taken += 1;
        }
        let lines: Vec<DigestLine> = groups[..taken].concat();
        let rest: usize = groups[taken..].iter().map(Vec::len).sum();
        if rest == 0 || used > limit {
            return (Self::new(lines, max_bytes), taken);
        }
        let mut digest = Self::new(lines, None);
        let note = queued_note(rest);
        digest.text.push_str(&format!("\n{note}"));
        digest.markdown.push_str(&format!("\n\n{note}"));
        (digest, taken)
    }

    /// The alert to send.
    pub fn to_alert(&self) -> Alert {
        Alert::new(
            self.title.clone(),
            self.text.clone(),
            self.markdown.clone(),
            self.severity,
        )
    }
}

fn header_text(n: usize) -> String {
    format!("Flink 告警汇总 / alert digest: {n} job changes (sent as one message to respect the channel's rate limit)\n")
}

fn header_md(n: usize) -> String {
    format!("### Flink 告警汇总 / alert digest\n**{n} job changes** (sent as one message to respect the channel's rate limit)\n\n")
}

fn entry(l: &DigestLine) -> String {
    format!("- {}\n", l.line)
}

/// The last line of a digest that could not name everything waiting.
fn queued_note(rest: usize) -> String {
    format!(
        "⏳ 另有 {rest} 条排队，在下一条汇总中列出 / {rest} more queued, named in the next digest"
    )
}

fn listing(header: &str, lines: &[DigestLine], max_bytes: Option<usize>) -> String {
    let limit = max_bytes.unwrap_or(usize::MAX);
    let mut out = header.to_owned();
    for (i, l) in lines.iter().enumerate() {
        let entry = entry(l);
        let rest = lines.len() - i;
        // Keep room for the "… and N more" line whenever something may still be cut.
        let tail = format!("… 另有 {rest} 条 / and {rest} more\n");
        if out.len() + entry.len() + tail.len() > limit && i + 1 < lines.len()
            || out.len() + entry.len() > limit
        {
            out.push_str(&tail);
            break;
        }
        out.push_str(&entry);
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<DigestLine> {
        (0..n)
            .map(|i| DigestLine {
                line: format!("job_{i}: RUNNING → FAILED (prod, 2026-11-25 10:00:00 +08:00)"),
                severity: Severity::Critical,
            })
            .collect()
    }

    #[test]
    fn lists_every_line_when_it_fits() {
        let d = DigestPayload::new(lines(12), None);
        assert!(d.title.contains("12 job changes"));
        assert_eq!(d.text.matches("\n- ").count(), 12);
        assert!(!d.text.contains("more"));
        insta::assert_snapshot!(
            "digest_markdown_3",
            DigestPayload::new(lines(3), None).markdown
        );
    }

    #[test]
    fn fitting_takes_whole_deliveries_up_to_the_limit_and_says_how_many_wait() {
        let groups: Vec<Vec<DigestLine>> = lines(1000).into_iter().map(|l| vec![l]).collect();
        let (d, taken) = DigestPayload::fitting(&groups, Some(4000));
        assert!(
            d.text.len() <= 4000 && d.markdown.len() <= 4000,
            "{}",
            d.markdown.len()
        );
        assert!(taken > 20 && taken < 1000, "{taken}");
        // Every line taken is named, in order; none is cut; the rest is announced.
        for i in 0..taken {
            assert!(d.markdown.contains(&format!("- job_{i}: ")), "job_{i}");
        }
        assert!(!d.markdown.contains(&format!("- job_{taken}: ")));
        assert!(d.text.ends_with(&format!(
            "{} more queued, named in the next digest",
            1000 - taken
        )));
        assert!(d.title.contains(&format!("{taken} job changes")));
        assert_eq!(d.lines.len(), taken);
        // A delivery's lines are never split: two-line groups go whole.
        let pairs: Vec<Vec<DigestLine>> =
            lines(1000).chunks(2).map(<[DigestLine]>::to_vec).collect();
        let (d, taken) = DigestPayload::fitting(&pairs, Some(4000));
        assert_eq!(d.lines.len(), taken * 2);
        // Everything fits: no note.
        let (d, taken) = DigestPayload::fitting(&groups[..5], Some(4000));
        assert_eq!(taken, 5);
        assert!(!d.text.contains("queued"));
    }

    #[test]
    fn cuts_at_a_line_with_the_count_of_the_rest() {
        let d = DigestPayload::new(lines(500), Some(2048));
        assert!(d.text.len() <= 2048, "{}", d.text.len());
        let shown = d.text.matches("\n- ").count();
        assert!(shown > 10 && shown < 500);
        assert!(
            d.text.ends_with(&format!("and {} more", 500 - shown)),
            "{}",
            &d.text[d.text.len() - 60..]
        );
        assert_eq!(d.lines.len(), 500);
    }
}
