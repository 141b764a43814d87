//! The Portuguese (pt-BR) edition cannot drift from the English book.
//!
//! `just book-po` extracts the English book's messages with mdbook-xgettext into
//! `book/po/messages.pot`, merges them into `book/po/pt-BR.po`, and stamps the POT with a digest
//! of the prose they were extracted from. These tests need no translation tool: they fail when
//! the prose has changed since the extraction (the POT is stale), and when a message of the POT
//! has no pt-BR translation, a fuzzy one, or one that lost a link target or a code span.
//!
//! Code blocks are not translated: they are captured output and code, shown as captured (the
//! gettext preprocessor keeps a message it has no translation for), so they are left out of the
//! digest and of the coverage; so are the cells of the model's tables, which are what
//! `halab model table` prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::book::{assert_none, book_src, join, pages, read, repo, split_fences};

/// The line of the POT's header comment that carries the digest.
const DIGEST_MARK: &str = "# halab-prose-digest: ";

fn po_dir() -> PathBuf {
    repo().join("book/po")
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A digest of what mdbook-xgettext extracts messages from: every page's lines outside code
/// blocks, and any file such a line includes.
fn prose_digest() -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for (page, text) in pages() {
        hash = fnv1a(page.to_string_lossy().as_bytes(), hash);
        let (prose, _) = split_fences(&text);
        let dir = book_src().join(&page).parent().map(Path::to_path_buf);
        for (_, line) in prose {
            hash = fnv1a(line.as_bytes(), hash);
            hash = fnv1a(b"\n", hash);
            if let (Some(dir), Some((_, rest))) = (&dir, line.split_once("{{#include "))
                && let Some((target, _)) = rest.split_once("}}")
            {
                let file = target.split(':').next().unwrap_or_default().trim();
                let included = std::fs::read(join(dir, file)).unwrap_or_default();
                hash = fnv1a(&included, hash);
            }
        }
    }
    format!("{hash:016x}")
}

/// One entry of a PO file.
#[derive(Debug, Default)]
struct Entry {
    msgid: String,
    msgstr: String,
    fuzzy: bool,
    /// The `#:` references: where the message is in the English book.
    refs: Vec<String>,
}

impl Entry {
    fn at(&self) -> &str {
        self.refs.first().map_or("", String::as_str)
    }

    /// A message only the model's generated tables have: what `halab model table` prints,
    /// shown as printed, like captured output.
    fn only_in_model_tables(&self) -> bool {
        !self.refs.is_empty()
            && self
                .refs
                .iter()
                .all(|r| r.starts_with("src/reference/restart-model-"))
    }
}

/// The entries of a PO file, by msgid (the header and obsolete `#~` entries left out).
fn entries(path: &Path) -> BTreeMap<String, Entry> {
    let text = read(path);
    let mut found = BTreeMap::new();
    for (n, block) in text.split("\n\n").enumerate() {
        let mut entry = Entry::default();
        let mut field: Option<&mut String> = None;
        for line in block.lines() {
            let line = line.trim_end();
            if let Some(flags) = line.strip_prefix("#,") {
                entry.fuzzy |= flags.split(',').any(|f| f.trim() == "fuzzy");
            } else if let Some(refs) = line.strip_prefix("#:") {
                entry
                    .refs
                    .extend(refs.split_whitespace().map(str::to_owned));
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else if let Some(rest) = line.strip_prefix("msgid ") {
                entry.msgid = unquote(rest, path, n);
                field = Some(&mut entry.msgid);
            } else if let Some(rest) = line.strip_prefix("msgstr ") {
                entry.msgstr = unquote(rest, path, n);
                field = Some(&mut entry.msgstr);
            } else if line.starts_with('"') {
                let more = unquote(line, path, n);
                match field.as_deref_mut() {
                    Some(f) => f.push_str(&more),
                    None => panic!(
                        "{}: entry {n}: a string outside msgid/msgstr",
                        path.display()
                    ),
                }
            } else {
                panic!("{}: entry {n}: cannot read {line:?}", path.display());
            }
        }
        if !entry.msgid.is_empty() {
            found.insert(entry.msgid.clone(), entry);
        }
    }
    found
}

/// A PO string: `"…"` with C escapes.
fn unquote(quoted: &str, path: &Path, entry: usize) -> String {
    let inner = quoted
        .trim()
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_else(|| {
            panic!(
                "{}: entry {entry}: not a quoted string: {quoted}",
                path.display()
            )
        });
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// A message that is a code block: shown as captured, not translated.
fn is_code(msgid: &str) -> bool {
    msgid.starts_with("```") || msgid.starts_with("~~~")
}

/// What a translation must keep as it is: link targets and `{{#…}}` directives, in order,
/// and inline code spans, as a sorted list (a sentence may reorder them).
fn kept(text: &str) -> (Vec<String>, Vec<String>) {
    let mut targets: Vec<String> = text
        .split("](")
        .skip(1)
        .filter_map(|p| p.split_once(')').map(|(t, _)| t.to_owned()))
        .collect();
    targets.extend(
        text.split("{{#")
            .skip(1)
            .filter_map(|p| p.split_once("}}").map(|(d, _)| d.to_owned())),
    );
    let mut spans: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    spans.sort();
    (targets, spans)
}

#[test]
fn the_pot_is_extracted_from_the_book_as_it_is_now() {
    let pot = po_dir().join("messages.pot");
    let text = read(&pot);
    let stamped = text
        .lines()
        .find_map(|l| l.strip_prefix(DIGEST_MARK))
        .unwrap_or("(none)");
    let now = prose_digest();
    assert!(
        stamped == now,
        "{} was extracted from other prose (digest {stamped}, the book's is now {now}): run \
         `just book-po`, translate what it marks new or fuzzy in book/po/pt-BR.po, and commit both",
        pot.display()
    );
}

#[test]
fn every_message_of_the_english_book_has_a_pt_br_translation() {
    let pot = entries(&po_dir().join("messages.pot"));
    let prose: Vec<&Entry> = pot
        .values()
        .filter(|e| !is_code(&e.msgid) && !e.only_in_model_tables())
        .collect();
    assert!(
        prose.len() > 500,
        "only {} messages in messages.pot: is the reader broken?",
        prose.len()
    );
    let po_path = po_dir().join("pt-BR.po");
    let translated = entries(&po_path);
    let mut problems = Vec::new();
    for message in prose {
        let first_line = message.msgid.lines().next().unwrap_or_default();
        let at = format!("{} {first_line:.60}", message.at());
        match translated.get(&message.msgid) {
            None => problems.push(format!("{at}: not in pt-BR.po (run `just book-po`)")),
            Some(t) if t.msgstr.trim().is_empty() => problems.push(format!("{at}: untranslated")),
            Some(t) if t.fuzzy => {
                problems.push(format!("{at}: fuzzy (check it, then drop the flag)"))
            }
            Some(t) => {
                let (want_targets, want_spans) = kept(&message.msgid);
                let (targets, spans) = kept(&t.msgstr);
                if targets != want_targets {
                    problems.push(format!(
                        "{at}: links or includes {targets:?}, the English {want_targets:?}"
                    ));
                }
                if spans != want_spans {
                    problems.push(format!(
                        "{at}: code spans {spans:?}, the English {want_spans:?} (code is not translated)"
                    ));
                }
            }
        }
    }
    let count = problems.len();
    problems.truncate(40);
    if count > 40 {
        problems.push(format!("… and {} more", count - 40));
    }
    assert_none(
        problems,
        &format!(
            "{} message(s) of the English book without a good translation in {}",
            count,
            po_path.display()
        ),
    );
}

/// Not a test: `just book-po` runs it to stamp a freshly extracted POT with the prose digest.
#[test]
#[ignore = "writes book/po/messages.pot; run by `just book-po`"]
fn stamp_the_pot_with_the_prose_digest() {
    let pot = po_dir().join("messages.pot");
    let text = read(&pot);
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(DIGEST_MARK))
        .collect();
    let stamped = format!("{DIGEST_MARK}{}\n{}\n", prose_digest(), body.join("\n"));
    std::fs::write(&pot, stamped).expect("writing messages.pot");
}
