//! Encryption triggers (Subject, header) and Subject tags.

use certmail_smime::message::HeaderEdit;
use certmail_smime::mime;

use super::*;

/// The encryption triggers of an internal sender's message: why encryption is forced (if
/// it is) and the header edit every processed copy gets (the trigger header removed, in
/// both directions; the Subject without the trigger when it fired).
pub(super) fn triggers(
    sender: &FlowSettings,
    top: Option<&mime::Entity<'_>>,
) -> (Option<&'static str>, HeaderEdit) {
    let mut edit = HeaderEdit::default();
    let mut forced = None;
    if let Some((name, value)) = &sender.trigger_header {
        edit.remove.push(name.clone());
        if sender.internal
            && top.is_some_and(|e| {
                e.headers
                    .iter()
                    .any(|h| h.is(name) && h.value().eq_ignore_ascii_case(value))
            })
        {
            forced = Some("the message carries the encrypt-trigger-header");
        }
    }
    let trigger = sender.trigger_subject.trim();
    if sender.internal
        && !trigger.is_empty()
        && let Some(subject) = top.and_then(|e| e.header("Subject")).map(|h| h.value())
        && let Some(clean) = remove_trigger(&subject, trigger)
    {
        forced = Some("the Subject carries the encrypt-trigger-subject");
        edit.subject = Some(clean);
    }
    (forced, edit)
}

/// `subject` without every occurrence of `trigger` (any case), white space tidied; `None`
/// when it does not occur.
pub fn remove_trigger(subject: &str, trigger: &str) -> Option<String> {
    let t = trigger.to_lowercase();
    let n = trigger.chars().count();
    if n == 0 {
        return None;
    }
    let mut out = String::with_capacity(subject.len());
    let mut found = false;
    let mut rest = subject;
    while let Some(c) = rest.chars().next() {
        let head: String = rest.chars().take(n).collect();
        if head.to_lowercase() == t {
            found = true;
            out.push(' ');
            rest = &rest[head.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    found.then(|| out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `subject` with `tags` in front, each once (a tag already there is not added again).
pub fn tag_subject(subject: &str, tags: &[&str]) -> String {
    let mut out = String::new();
    for t in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !subject.contains(t) && !out.contains(t) {
            out.push_str(t);
            out.push(' ');
        }
    }
    out.push_str(subject);
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_removed_in_any_case_and_tags_added_once() {
        assert_eq!(
            remove_trigger("[ENCRYPT] plans for [encrypt] Q3", "[encrypt]").as_deref(),
            Some("plans for Q3")
        );
        assert_eq!(
            remove_trigger("Grüße [Encrypt]", "[encrypt]").as_deref(),
            Some("Grüße")
        );
        assert_eq!(remove_trigger("encrypted", "[encrypt]"), None);
        assert_eq!(remove_trigger("x", ""), None);
        assert_eq!(
            tag_subject("hello", &["[decrypted]", "[signed]"]),
            "[decrypted] [signed] hello"
        );
        assert_eq!(
            tag_subject("[signed] hello", &["[signed]"]),
            "[signed] hello"
        );
        assert_eq!(tag_subject("", &["[signed]"]), "[signed]");
    }
}
