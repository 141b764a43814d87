//! Text that comes from outside — scenario files, flags, a daemon's answers — on its way to a
//! terminal. A control character in it could move the cursor, clear the screen or set the
//! window's title (ANSI CSI and OSC sequences start with ESC), and a bidirectional override
//! could make a name read as another; so such characters are refused where names are parsed,
//! and shown escaped wherever foreign text is printed.

use std::borrow::Cow;

/// Whether `c` would act on a terminal, or on the order text is shown in, instead of printing:
/// C0 and C1 controls, DEL, and the zero-width and bidirectional formatting characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// `text` for one line of a terminal: every unsafe character, line breaks included, written as
/// `\u{…}` (`\n`, `\r` and `\t` as themselves escaped).
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// `text` for a terminal, keeping its line breaks and tabs.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if keep(c) || !is_unsafe(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(one_line("plain — ok"), "plain — ok");
        assert_eq!(one_line("\x1b]0;owned\x07x"), "\\u{1b}]0;owned\\u{7}x");
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert_eq!(lines("a\n\x1b[2Jb\tc"), "a\n\\u{1b}[2Jb\tc");
        assert_eq!(one_line("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(one_line("\u{9b}31m"), "\\u{9b}31m", "a C1 CSI");
    }
}
