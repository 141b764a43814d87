//! The book (`book/`) says only what halab shows. These tests fail when something the book names
//! — an included file or anchor, a chapter, a link or heading, a `halab` command, option or
//! scenario parameter, a scenario, a `just` recipe — no longer exists, or when the output it
//! shows (captured by `just book-refresh`, listed in `book/captures.txt`) no longer matches
//! what the command prints: exactly for help pages and the scenario list, in shape (numbers and
//! run ids aside) for runs. Lab runs are run again on a lab daemon, once each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

pub(crate) fn book_src() -> PathBuf {
    repo().join("book/src")
}

fn generated() -> PathBuf {
    book_src().join("generated")
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Fails with every problem found, not just the first.
pub(crate) fn assert_none(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// Every Markdown file of the book, with its path relative to `book/src`, sorted.
pub(crate) fn pages() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&book_src(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = read(&p);
            (p.strip_prefix(book_src()).unwrap().to_path_buf(), text)
        })
        .collect()
}

/// Numbered lines of a page.
pub(crate) type Lines<'a> = Vec<(usize, &'a str)>;

/// The lines of a page outside fenced code blocks, and those inside them, with line numbers.
pub(crate) fn split_fences(text: &str) -> (Lines<'_>, Lines<'_>) {
    let (mut prose, mut code) = (Vec::new(), Vec::new());
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            code.push((i + 1, line));
        } else {
            prose.push((i + 1, line));
        }
    }
    (prose, code)
}

/// The inline code spans of a line of prose.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// A line of prose without its inline code spans.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// Lexically normalised `base/rel` (`..` resolved without touching the disk).
pub(crate) fn join(base: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// One `{{#include …}}` (or `{{#rustdoc_include …}}`) of a page.
struct Include {
    page: PathBuf,
    line: usize,
    /// The file, resolved against the page's directory.
    target: PathBuf,
    /// An anchor name, if the include names one rather than lines.
    anchor: Option<String>,
}

fn includes() -> Vec<Include> {
    let mut found = Vec::new();
    for (page, text) in pages() {
        let dir = book_src().join(&page).parent().unwrap().to_path_buf();
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(open) = rest.find("{{#") {
                let escaped = rest[..open].ends_with('\\');
                let after = &rest[open + 3..];
                let Some(close) = after.find("}}") else {
                    break;
                };
                let body = &after[..close];
                rest = &after[close + 2..];
                if escaped {
                    continue;
                }
                let Some((kind, arg)) = body.split_once(char::is_whitespace) else {
                    continue;
                };
                if kind != "include" && kind != "rustdoc_include" {
                    continue;
                }
                let mut parts = arg.trim().split(':');
                let file = parts.next().unwrap_or_default();
                let selector = parts.next();
                let anchor = selector
                    .filter(|s| !s.is_empty() && !s.chars().all(|c| c.is_ascii_digit()))
                    .map(str::to_owned);
                found.push(Include {
                    page: page.clone(),
                    line: i + 1,
                    target: join(&dir, file),
                    anchor,
                });
            }
        }
    }
    found
}

#[test]
fn every_include_names_a_file_and_an_anchor_that_exist() {
    let includes = includes();
    assert!(
        includes.len() >= 30,
        "only {} includes found: is the parser broken?",
        includes.len()
    );
    let mut problems = Vec::new();
    for inc in &includes {
        let at = format!("{}:{}", inc.page.display(), inc.line);
        let Ok(text) = std::fs::read_to_string(&inc.target) else {
            problems.push(format!(
                "{at}: includes {}, which does not exist",
                inc.target.display()
            ));
            continue;
        };
        if let Some(anchor) = &inc.anchor {
            let marks = |word: &str| {
                text.lines()
                    .filter(|l| {
                        l.split_once(word)
                            .is_some_and(|(_, name)| name.trim() == anchor.as_str())
                    })
                    .count()
            };
            if marks("ANCHOR:") != 1 || marks("ANCHOR_END:") != 1 {
                problems.push(format!(
                    "{at}: {} has no single `ANCHOR: {anchor}` … `ANCHOR_END: {anchor}` pair",
                    inc.target.display()
                ));
            }
        }
    }
    assert_none(problems, "includes that name nothing");
}

/// The chapters `SUMMARY.md` links to.
fn summary_chapters() -> Vec<String> {
    let summary = read(&book_src().join("SUMMARY.md"));
    summary
        .split("](")
        .skip(1)
        .filter_map(|s| s.split_once(')').map(|(target, _)| target.to_owned()))
        .collect()
}

#[test]
fn every_chapter_in_the_summary_exists_and_every_page_is_in_it() {
    let chapters = summary_chapters();
    let mut problems = Vec::new();
    for chapter in &chapters {
        let path = book_src().join(chapter);
        if !path.is_file() || read(&path).trim().is_empty() {
            problems.push(format!(
                "SUMMARY.md lists {chapter}, which is missing or empty"
            ));
        }
    }
    for (page, _) in pages() {
        let name = page.to_string_lossy().into_owned();
        if name != "SUMMARY.md" && !chapters.contains(&name) {
            problems.push(format!(
                "{name} is not in SUMMARY.md: no reader will find it"
            ));
        }
    }
    assert_none(problems, "chapters");
}

/// mdBook's heading ids (`mdbook-html`'s `id_from_content` and `unique_id`).
fn heading_ids(text: &str) -> BTreeSet<String> {
    let (prose, _) = split_fences(text);
    let mut ids = BTreeSet::new();
    for (_, line) in prose {
        let trimmed = line.trim_start_matches('#');
        if trimmed.len() == line.len()
            || !trimmed.starts_with(' ')
            || line.len() - trimmed.len() > 6
        {
            continue;
        }
        let mut rest = trimmed.trim().trim_end_matches('#').trim();
        // `## Title {#id}`: the id is given.
        if let Some((_, given)) = rest.rsplit_once("{#")
            && let Some(id) = given.strip_suffix('}')
        {
            ids.insert(id.to_owned());
            continue;
        }
        // The heading's text: no code ticks, no link targets.
        let mut plain = String::new();
        while let Some(open) = rest.find("](") {
            plain.push_str(&rest[..open]);
            rest = rest[open + 2..].split_once(')').map_or("", |(_, r)| r);
        }
        plain.push_str(rest);
        let id: String = plain
            .replace(['`', '[', ']'], "")
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c)
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let mut unique = id.clone();
        let mut n = 1;
        while !ids.insert(unique.clone()) {
            unique = format!("{id}-{n}");
            n += 1;
        }
    }
    ids
}

/// Every `](target)` outside code, with its line.
fn links(text: &str) -> Vec<(usize, String)> {
    let (prose, _) = split_fences(text);
    let mut found = Vec::new();
    for (line_no, line) in prose {
        let line = without_code(line);
        for part in line.split("](").skip(1) {
            if let Some((target, _)) = part.split_once(')') {
                found.push((line_no, target.trim().to_owned()));
            }
        }
    }
    found
}

#[test]
fn every_link_and_anchor_in_the_book_resolves() {
    let pages = pages();
    let ids: BTreeMap<PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|(p, text)| (p.clone(), heading_ids(text)))
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (page, text) in &pages {
        if page.as_os_str() == "SUMMARY.md" {
            continue;
        }
        let dir = page.parent().unwrap_or(Path::new(""));
        for (line, target) in links(text) {
            let at = format!("{}:{line}", page.display());
            if target.starts_with("https://") || target.starts_with("http://") {
                continue; // no network here; external links are not checked
            }
            checked += 1;
            let (file, fragment) = match target.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                join(dir, file)
            };
            if resolved.components().next() == Some(Component::ParentDir)
                || !book_src().join(&resolved).is_file()
            {
                problems.push(format!(
                    "{at}: `{target}` is not a file of the book (book/src/{})",
                    resolved.display()
                ));
                continue;
            }
            if let Some(fragment) = fragment {
                let known = ids.get(&resolved);
                if !known.is_some_and(|k| k.contains(fragment)) {
                    problems.push(format!(
                        "{at}: `{target}`: {} has no heading with the id `{fragment}`",
                        resolved.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} links checked: is the parser broken?"
    );
    assert_none(problems, "broken links");
}

/// The `halab` help page of a subcommand path, cached.
struct Help(BTreeMap<Vec<String>, Option<String>>);

impl Help {
    fn of(&mut self, path: &[String]) -> Option<String> {
        self.0
            .entry(path.to_vec())
            .or_insert_with(|| {
                let out = run(plain_halab(
                    &path
                        .iter()
                        .map(String::as_str)
                        .chain(["--help"])
                        .collect::<Vec<_>>(),
                ));
                (out.code == 0).then_some(out.stdout)
            })
            .clone()
    }
}

/// The subcommands a help page lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// `halab ARGS` as a reader runs it: from the repository's root, with no halab variables set,
/// help wrapped at 100 columns (as `just book-refresh` runs it).
fn plain_halab(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_halab"));
    cmd.args(args)
        .current_dir(repo())
        .env("COLUMNS", "100")
        .env_remove("HALAB_STATE_DIR")
        .env_remove("HALAB_SCENARIOS")
        .env_remove("HALAB_LOG")
        .env_remove("DOCKER_HOST");
    cmd
}

/// Every command the book shows or names: `$ …` lines in code blocks and inline code, with where.
fn commands(program: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let prefix = format!("{program} ");
    for (page, text) in pages() {
        let (prose, code) = split_fences(&text);
        for (line, l) in code {
            if let Some(cmd) = l.strip_prefix("$ ").filter(|c| c.starts_with(&prefix)) {
                found.push((format!("{}:{line}", page.display()), cmd.to_owned()));
            }
        }
        for (line, l) in prose {
            for span in code_spans(l) {
                if span.starts_with(&prefix) {
                    found.push((format!("{}:{line}", page.display()), span.to_owned()));
                }
            }
        }
    }
    found
}

/// A word that stands for something (`NAME`, `…`) rather than being it.
fn placeholder(word: &str) -> bool {
    word.contains('…')
        || (word.chars().any(|c| c.is_ascii_uppercase())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-' || c == '='))
}

/// Checks one `halab …` command against the program: its subcommands, options and scenario.
fn check_command(help: &mut Help, cmd: &str) -> Result<(), String> {
    let words: Vec<String> = cmd.split_whitespace().skip(1).map(str::to_owned).collect();
    let mut path: Vec<String> = Vec::new();
    let mut i = 0;
    let page = loop {
        let page = help
            .of(&path)
            .ok_or_else(|| format!("`halab {} --help` fails", path.join(" ")))?;
        let subs = subcommands(&page);
        match words.get(i) {
            Some(w) if !subs.is_empty() && !w.starts_with('-') => {
                if placeholder(w) {
                    return Ok(());
                }
                if !subs.contains(w) {
                    return Err(format!(
                        "`halab {}` has no subcommand `{w}` (it has {})",
                        path.join(" "),
                        subs.join(", ")
                    ));
                }
                path.push(w.clone());
                i += 1;
            }
            _ => break page,
        }
    };
    let mut positionals = Vec::new();
    let mut sets = Vec::new();
    let rest = &words[i..];
    let mut j = 0;
    while j < rest.len() {
        let w = &rest[j];
        if let Some(flag) = w.strip_prefix("--") {
            let name = flag.split('=').next().unwrap_or_default();
            if !page.contains(&format!("--{name} ")) && !page.contains(&format!("--{name}\n")) {
                return Err(format!(
                    "`halab {}` has no option `--{name}`",
                    path.join(" ")
                ));
            }
            if name == "set" {
                if let Some(v) = rest.get(j + 1) {
                    sets.push(v.clone());
                    j += 1;
                }
            } else if page.contains(&format!("--{name} <")) {
                j += 1; // the option's value
            }
        } else if w.starts_with('-') && w.len() == 2 {
            if !page.contains(&format!("  {w}, ")) {
                return Err(format!("`halab {}` has no option `{w}`", path.join(" ")));
            }
        } else {
            positionals.push(w.clone());
        }
        j += 1;
    }
    if path == ["scenario", "run"] {
        let Some(name) = positionals.first().filter(|n| !placeholder(n)) else {
            return Ok(());
        };
        // A scenario, or a suite (a directory of them), as `halab scenario run` finds it.
        let files = halab_chaos::scenario::locate_all(name, &scenarios_dir())
            .ok()
            .filter(|files| files.iter().all(|f| f.is_file()))
            .ok_or_else(|| {
                format!("there is no scenario or suite `{name}` (scenarios/{name}.toml or scenarios/{name}/)")
            })?;
        let sets = halab_chaos::scenario::parse_sets(&sets).map_err(|e| e.to_string())?;
        for file in files {
            halab_chaos::scenario::load(&file, &sets).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[test]
fn every_halab_command_the_book_shows_exists() {
    let commands = commands("halab");
    assert!(
        commands.len() >= 15,
        "only {} commands found: is the parser broken?",
        commands.len()
    );
    let mut help = Help(BTreeMap::new());
    let problems: Vec<String> = commands
        .iter()
        .filter_map(|(at, cmd)| {
            check_command(&mut help, cmd)
                .err()
                .map(|e| format!("{at}: `{cmd}`: {e}"))
        })
        .collect();
    assert_none(problems, "commands the book shows that halab does not have");
}

/// The recipes of the justfile.
fn recipes() -> BTreeSet<String> {
    read(&repo().join("justfile"))
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()) && !l.contains(":="))
        .filter_map(|l| l.split_once(':').map(|(head, _)| head))
        .filter_map(|head| head.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn every_just_recipe_the_book_names_exists() {
    let recipes = recipes();
    assert!(recipes.contains("book") && recipes.contains("book-refresh"));
    let problems: Vec<String> = commands("just")
        .iter()
        .filter_map(|(at, cmd)| {
            let recipe = cmd.split_whitespace().nth(1)?;
            (!recipes.contains(recipe)).then(|| format!("{at}: `{cmd}`: no recipe `{recipe}`"))
        })
        .collect();
    assert_none(
        problems,
        "just recipes the book names that the justfile lacks",
    );
}

/// The scenarios the book cites: "scenario `NAME`" in prose, and `scenarios/NAME.toml`.
fn cited_scenarios() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (page, text) in pages() {
        for (line, l) in text.lines().enumerate() {
            let at = format!("{}:{}", page.display(), line + 1);
            for part in l.split("scenario `").skip(1) {
                if let Some((name, _)) = part.split_once('`') {
                    found.push((at.clone(), name.to_owned()));
                }
            }
            for part in l.split("scenarios/").skip(1) {
                if let Some((name, _)) = part.split_once(".toml")
                    && !name.contains(char::is_whitespace)
                    && !placeholder(name)
                {
                    found.push((at.clone(), name.to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn every_scenario_the_book_cites_exists() {
    let cited = cited_scenarios();
    let names: BTreeSet<&str> = cited.iter().map(|(_, n)| n.as_str()).collect();
    assert!(
        names.len() >= 8,
        "only {names:?} cited: is the parser broken?"
    );
    let problems: Vec<String> = cited
        .iter()
        .filter(|(_, name)| !scenarios_dir().join(format!("{name}.toml")).is_file())
        .map(|(at, name)| format!("{at}: scenario `{name}` does not exist (scenarios/{name}.toml)"))
        .collect();
    assert_none(problems, "scenarios the book cites that do not exist");
}

/// One line of `book/captures.txt`: a file under `book/src/generated` and the command behind it.
#[derive(Debug, Clone)]
struct Capture {
    file: String,
    command: String,
}

impl Capture {
    fn args(&self) -> Vec<&str> {
        self.command.split_whitespace().skip(1).collect()
    }

    fn program(&self) -> &str {
        self.command.split_whitespace().next().unwrap_or_default()
    }

    /// A run — `halab scenario run`, a suite, the mutation check — not its help page: its
    /// output is compared in shape, not exactly.
    fn is_run(&self) -> bool {
        [
            "halab scenario run ",
            "halab chaos suite ",
            "halab chaos mutants ",
        ]
        .iter()
        .any(|run| self.command.starts_with(run))
            && !self.args().contains(&"--help")
    }

    fn in_simulator(&self) -> bool {
        self.args().windows(2).any(|w| w == ["--runtime", "sim"])
            || self.args().contains(&"--sim-only")
    }

    fn committed(&self) -> String {
        read(&generated().join(&self.file))
    }
}

fn captures() -> Vec<Capture> {
    read(&repo().join("book/captures.txt"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (file, command) = l.split_once(char::is_whitespace).expect("FILE COMMAND");
            Capture {
                file: file.to_owned(),
                command: command.trim().to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_capture_is_listed_committed_and_used() {
    let captures = captures();
    let mut problems = Vec::new();
    let mut on_disk = Vec::new();
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(&generated(), &generated(), &mut on_disk);
    let listed: BTreeSet<&str> = captures.iter().map(|c| c.file.as_str()).collect();
    for file in &on_disk {
        if !listed.contains(file.as_str()) {
            problems.push(format!(
                "book/src/generated/{file} is not in book/captures.txt: nothing makes it"
            ));
        }
    }
    // Used: included or linked by a page, or read by another capture's command.
    let book_text: String = pages().into_iter().map(|(_, t)| t).collect();
    for c in &captures {
        if !generated().join(&c.file).is_file() {
            problems.push(format!(
                "{} is listed but not committed: run `just book-refresh {}`",
                c.file, c.file
            ));
        }
        if !matches!(c.program(), "halab" | "halab-figures" | "dot") {
            problems.push(format!("{}: unknown program `{}`", c.file, c.program()));
        }
        let used = book_text.contains(&format!("generated/{}", c.file))
            || captures.iter().any(|o| o.command.contains(&c.file));
        if !used {
            problems.push(format!("{}: captured, but the book never shows it", c.file));
        }
    }
    assert_none(problems, "captures");
}

/// `$ COMMAND`, then what it printed, as `book/refresh.sh` writes a `.txt` capture.
fn transcript(c: &Capture, out: &Outcome) -> String {
    format!("$ {}\n{}{}", c.command, out.stderr, out.stdout)
}

#[test]
fn help_pages_and_the_scenario_list_are_what_halab_prints_now() {
    let mut problems = Vec::new();
    let mut compared = 0;
    for c in captures()
        .into_iter()
        .filter(|c| c.program() == "halab" && !c.is_run())
    {
        let out = run(plain_halab(&c.args()));
        compared += 1;
        if out.code != 0 || transcript(&c, &out) != c.committed() {
            problems.push(format!(
                "{} is not what `{}` prints now ({}): run `just book-refresh {}`",
                c.file,
                c.command,
                if out.code == 0 {
                    "different text".to_owned()
                } else {
                    format!("exit {}", out.code)
                },
                c.file
            ));
        }
    }
    assert!(compared >= 10, "only {compared} help pages compared");
    assert_none(problems, "stale captures");
}

/// A line with its run ids and numbers masked: what must not change between runs.
fn shape(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let is_run_id = |at: usize| {
        let want = "dddddddd-dddddd-hhhh";
        want.chars().enumerate().all(|(k, w)| {
            chars.get(at + k).is_some_and(|&c| match w {
                'd' => c.is_ascii_digit(),
                'h' => c.is_ascii_hexdigit(),
                _ => c == w,
            })
        })
    };
    while i < chars.len() {
        if is_run_id(i) {
            out.push_str("<run>");
            i += 20;
        } else if chars[i].is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('#');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The summary a run ends with, from its verdict line to the end, in shape: each property or
/// check by its verdict, subject and name (what it measured differs from run to run — the last
/// restart and the end of the run race, so the events and the final state a run ends with may
/// too — and what the book says of them is tested by [`claims`]).
fn summary(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| {
            !(l.starts_with("PASS ") || l.starts_with("FAIL ") || l.starts_with("UNKNOWN "))
        })
        .map(|l| {
            let judged = ["  ok ", "  FAIL ", "  ?? ", "  -- "]
                .iter()
                .any(|p| l.starts_with(p));
            if judged {
                l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            } else {
                // How many automatic restarts a run measured depends on where its last one
                // fell against the run's end: a list of them is one item in shape.
                let mut line = shape(l);
                while line.contains("# (model #), # (model #)") {
                    line = line.replace("# (model #), # (model #)", "# (model #)");
                }
                line
            }
        })
        .collect()
}

fn phase_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("── phase ").map(|(_, p)| shape(p)))
        .collect()
}

#[test]
fn simulator_runs_are_what_halab_prints_now_in_shape() {
    let mut compared = 0;
    for c in captures()
        .into_iter()
        .filter(|c| c.is_run() && c.in_simulator() && c.file.ends_with(".txt"))
    {
        let out = run(plain_halab(&c.args()));
        assert_eq!(out.code, 0, "{}: `{}`:\n{out}", c.file, c.command);
        let fresh = transcript(&c, &out);
        if let Err(e) = claims(&c.file, &fresh) {
            panic!(
                "{}: what the book says of it no longer holds: {e}\n{fresh}",
                c.file
            );
        }
        let now: Vec<String> = fresh.lines().map(shape).collect();
        let then: Vec<String> = c.committed().lines().map(shape).collect();
        assert_eq!(
            now, then,
            "{} no longer has the shape of what `{}` prints: run `just book-refresh {}`",
            c.file, c.command, c.file
        );
        compared += 1;
    }
    assert!(compared >= 1, "no simulator capture compared");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A JSON report's shape: its keys, its checks, its phases.
fn report_shape(v: &Value) -> Vec<String> {
    let mut shape = vec![format!("report {:?}", keys(v))];
    for part in ["target", "services", "timings", "slack"] {
        shape.push(format!("{part} {:?}", keys(&v[part])));
    }
    for list in ["checks", "phases"] {
        for item in v[list].as_array().into_iter().flatten() {
            shape.push(format!(
                "{list}: {} {}",
                item.get("subject").unwrap_or(&Value::Null),
                item["name"]
            ));
        }
    }
    shape
}

#[test]
fn json_captures_have_the_shape_of_a_report_halab_makes_now() {
    let mut compared = 0;
    for c in captures()
        .into_iter()
        .filter(|c| c.is_run() && c.file.ends_with(".json"))
    {
        let committed: Value = serde_json::from_str(&c.committed())
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", c.file));
        assert_eq!(committed["verdict"], "pass", "{}: a failing run", c.file);
        let history: Result<halab_model::History, _> =
            serde_json::from_value(committed["history"].clone());
        assert!(
            history.is_ok_and(|h| !h.entries().is_empty()),
            "{}: its history is not a history halab reads now",
            c.file
        );
        // The same command in the simulator: cheap, and the same report shape as a real run.
        let mut args = c.args();
        if !c.in_simulator() {
            args.extend(["--runtime", "sim"]);
        }
        let out = run(plain_halab(&args));
        assert_eq!(out.code, 0, "{}: `{}`:\n{out}", c.file, args.join(" "));
        assert_eq!(
            report_shape(&committed),
            report_shape(&out.json()),
            "{} no longer has the shape of the report `{}` makes: run `just book-refresh {}`",
            c.file,
            c.command,
            c.file
        );
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} JSON captures compared");
}

/// The numbers of a summary's counts line for `service`:
/// `  critical: counter 6, 6 starts, 6 dies, RestartCount 1, 0 reconciled from inspect`.
fn counts(text: &str, service: &str) -> BTreeMap<String, i64> {
    let head = format!("{service}: counter ");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&head) && l.contains("RestartCount"))
        .unwrap_or_default();
    let line = line
        .trim()
        .strip_prefix(&format!("{service}: "))
        .unwrap_or_default();
    let mut found = BTreeMap::new();
    for part in line.split(", ") {
        let words: Vec<&str> = part.split_whitespace().collect();
        match words.as_slice() {
            ["counter", n] | ["RestartCount", n] => {
                if let Ok(n) = n.parse() {
                    found.insert(words[0].to_owned(), n);
                }
            }
            [n, what, ..] => {
                if let Ok(n) = n.parse() {
                    found.insert((*what).to_owned(), n);
                }
            }
            _ => {}
        }
    }
    found
}

/// What a run printed after its own `daemon-start` (the second one: the first is the lab's).
fn after_the_runs_daemon_start(text: &str) -> &str {
    text.split("→ daemon-start").nth(2).unwrap_or_default()
}

/// `events` appear in this order in `text`.
fn in_order(text: &str, events: &[&str]) -> Result<(), String> {
    let mut rest = text;
    for event in events {
        let Some(at) = rest.find(event) else {
            return Err(format!("no `{event}` in order {events:?}"));
        };
        rest = &rest[at + event.len()..];
    }
    Ok(())
}

/// What the book says about a lab run beyond its checks, tested on the fresh run.
fn claims(file: &str, text: &str) -> Result<(), String> {
    let exactly = |service: &str, k: &str, want: i64| -> Result<(), String> {
        let n = counts(text, service);
        let got = n
            .get(k)
            .copied()
            .ok_or(format!("no `{k}` in the counts of {service}: {n:?}"))?;
        (got == want)
            .then_some(())
            .ok_or(format!("{service}: {got} {k}, where the book says {want}"))
    };
    match file {
        // counter-experiment.md: 6 starts yet `RestartCount` 1 — the daemon's start resets it;
        // and the daemon starts the service before it answers its API.
        "runs/restart-always.txt" => {
            exactly("critical", "starts", 6)?;
            exactly("critical", "RestartCount", 1)?;
            in_order(
                after_the_runs_daemon_start(text),
                &["critical start", "daemon: answering"],
            )
            .map_err(|e| format!("the service was not started before the daemon answered: {e}"))
        }
        // restart-policies.md: four starts, `RestartCount 3`; seven starts in the back-off run.
        "runs/on-failure.txt" => {
            exactly("critical", "starts", 4)?;
            exactly("critical", "RestartCount", 3)
        }
        "runs/backoff.txt" => exactly("critical", "starts", 7),
        // daemon-down.md: the daemon stops the service it finds running, SIGKILL after the
        // 10 s stop timeout, starts it again, and only then answers; RestartCount is 0.
        "runs/daemon-crash.txt" => {
            in_order(
                after_the_runs_daemon_start(text),
                &[
                    "critical kill (15)",
                    "critical kill (9)",
                    "critical die (exit 137)",
                    "critical stop",
                    "critical start",
                    "daemon: answering",
                ],
            )?;
            let took = text
                .lines()
                .find(|l| l.trim_start().starts_with("took "))
                .unwrap_or_default();
            let ready: i64 = took
                .rsplit("daemon-start ")
                .next()
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if ready < 10_000 {
                return Err(format!(
                    "the daemon answered {ready} ms after it started: not after a 10 s stop"
                ));
            }
            exactly("critical", "RestartCount", 0)
        }
        // restart-policies.md: both kills end in status 137; docker kill logs `kill (9)`.
        "runs/kill-vs-crash.txt"
            if text.matches("critical die (exit 137)").count() != 2
                || !text.contains("critical kill (9)") =>
        {
            Err("not two `die (exit 137)` and a `kill (9)`".to_owned())
        }
        // daemon-down.md: after a crash, `always` and `on-failure` come back; `no` and
        // `unless-stopped` stay down (restore's stop counts as a manual one).
        "runs/policies-under-daemon-crash.txt" => {
            for (service, starts) in [
                ("no", 1),
                ("on-failure", 2),
                ("always", 2),
                ("unless-stopped", 1),
            ] {
                exactly(service, "starts", starts)?;
            }
            Ok(())
        }
        // After a clean stop every policy but `no` comes back, `on-failure` from its 137.
        "runs/policies-under-daemon-stop.txt" => {
            for (service, starts) in [
                ("no", 1),
                ("on-failure", 2),
                ("always", 2),
                ("unless-stopped", 2),
            ] {
                exactly(service, "starts", starts)?;
            }
            Ok(())
        }
        // With live-restore nothing is stopped and nothing restarted.
        // The mutation check in the simulator (on labs it runs in `just test` as `just mutants`).
        "suites/mutants-sim.txt" => {
            if text.contains("6/6 mutants caught (100 %)") {
                Ok(())
            } else {
                Err("the simulator's mutation check no longer catches 6/6 mutants".into())
            }
        }
        "runs/policies-under-live-restore.txt" => {
            for service in ["no", "on-failure", "always", "unless-stopped"] {
                exactly(service, "starts", 1)?;
            }
            Ok(())
        }
        // restart-policies.md: a container that never started is `created`, exit code 127 after
        // the failed `docker restart`, under every policy; once started, `no` runs once and the
        // others are restarted after their first exit.
        "runs/failed-start.txt" => {
            for (service, starts) in [
                ("no", 1),
                ("on-failure", 2),
                ("always", 2),
                ("unless-stopped", 2),
            ] {
                inspected(text, service, "created 127 rc0")?;
                exactly(service, "starts", starts)?;
            }
            Ok(())
        }
        // restart-policies.md: the failed restart leaves `exited` 3 with `RestartCount` 1; the
        // daemon's start with the source gone leaves 127 and 0; with it back, each starts again.
        "runs/failed-restart.txt" => {
            for service in ["always", "on-failure", "unless-stopped"] {
                inspected(text, service, "exited 3 rc1")?;
                inspected(text, service, "exited 127 rc0")?;
                exactly(service, "starts", 2)?;
            }
            Ok(())
        }
        // beyond-one-machine.md: under `always`, the failing check's service turns unhealthy and
        // is not restarted — one start, `RestartCount` 0, still running when inspected — and
        // the passing one's turns healthy.
        "runs/unhealthy-is-not-restarted.txt" | "runs/unhealthy-is-not-restarted-sim.txt" => {
            for (service, health) in [("sick", "unhealthy"), ("well", "healthy")] {
                exactly(service, "starts", 1)?;
                exactly(service, "RestartCount", 0)?;
                inspected(text, service, "running 0 rc0")?;
                final_health(text, service, health)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether a line of the summary judging `service`'s `property` says `said`.
fn summary_says(text: &str, service: &str, property: &str, said: &str) -> bool {
    text.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.get(1) == Some(&service) && words.get(2) == Some(&property) && line.contains(said)
    })
}

/// Whether the summary's `final-health` of `service` read `health`, as the model predicts.
fn final_health(text: &str, service: &str, health: &str) -> Result<(), String> {
    let said = format!("{health}, as the model predicts");
    summary_says(text, service, "final-health", &said)
        .then_some(())
        .ok_or(format!(
            "the final health of {service} is not `{health}` as the model predicts"
        ))
}

/// Whether an inspection of `service` in the summary read `state` (`exited 3 rc1`).
fn inspected(text: &str, service: &str, state: &str) -> Result<(), String> {
    summary_says(text, service, "state-at-inspect", &format!("ms: {state};"))
        .then_some(())
        .ok_or(format!("no inspection of {service} read `{state}`"))
}

/// Runs a lab capture's command again on a lab daemon: it must pass, end with a summary of the
/// same shape, go through the same phases, and bear out what the book says about it.
fn lab_capture_still_holds(file: &str) {
    require_root();
    let capture = captures()
        .into_iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("{file} is not in book/captures.txt"));
    let state = StateDir::new();
    // The same run is the scenario's own test on a lab (see `scenarios.rs`): its report, as
    // JSON beside the summary, must show every property judged by the oracle.
    let json = std::env::temp_dir().join(format!(
        "halab-capture-{}-{}.json",
        file.replace('/', "-"),
        std::process::id()
    ));
    let args = [
        &capture.args()[..],
        &["--json-file", json.to_str().unwrap()],
    ]
    .concat();
    let out = run(halab(&state, &args));
    assert_eq!(out.code, 0, "{file}: `{}` failed:\n{out}", capture.command);
    let report: Value = serde_json::from_str(&read(&json)).expect("the JSON report");
    let _ = std::fs::remove_file(&json);
    assert_eq!(report["verdict"], "pass", "{file}: {}", report["checks"]);
    crate::scenarios::judged_by_the_oracle(file, &report);
    let fresh = transcript(&capture, &out);
    let committed = capture.committed();
    assert_eq!(
        summary(&fresh),
        summary(&committed),
        "{file}: the summary no longer has the shape of the book's: run `just book-refresh {file}`\n{fresh}"
    );
    assert_eq!(
        phase_lines(&fresh),
        phase_lines(&committed),
        "{file}: the run no longer goes through the book's phases"
    );
    for (which, text) in [("this run", &fresh), ("the book's capture", &committed)] {
        if let Err(e) = claims(file, text) {
            panic!("{file}: what the book says about it does not hold for {which}: {e}\n{text}");
        }
    }
    assert!(state.labs().is_empty(), "{file}: the run left a lab");
}

/// The lab captures, each tested on its own so that they run in parallel with the others.
const LAB_CAPTURES: [&str; 14] = [
    "runs/restart-always.txt",
    "runs/on-failure.txt",
    "runs/backoff.txt",
    "runs/kill-vs-crash.txt",
    "runs/always-after-stop.txt",
    "runs/unless-stopped-after-stop.txt",
    "runs/daemon-crash.txt",
    "runs/live-restore.txt",
    "runs/policies-under-daemon-crash.txt",
    "runs/policies-under-daemon-stop.txt",
    "runs/policies-under-live-restore.txt",
    "runs/failed-start.txt",
    "runs/failed-restart.txt",
    "runs/unhealthy-is-not-restarted.txt",
];

#[test]
fn what_the_book_says_of_its_lab_runs_holds_for_the_captures() {
    let problems: Vec<String> = LAB_CAPTURES
        .iter()
        .filter_map(|file| {
            let text = read(&generated().join(file));
            claims(file, &text).err().map(|e| format!("{file}: {e}"))
        })
        .collect();
    assert_none(problems, "captures that contradict the book");
}

#[test]
fn every_lab_capture_is_tested_on_a_lab() {
    let listed: BTreeSet<String> = captures()
        .into_iter()
        .filter(|c| c.is_run() && !c.in_simulator() && c.file.ends_with(".txt"))
        .map(|c| c.file)
        .collect();
    let tested: BTreeSet<String> = LAB_CAPTURES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        listed, tested,
        "add each lab capture of book/captures.txt to LAB_CAPTURES in tests/integration/book.rs"
    );
}

macro_rules! lab_captures {
    ($($test:ident => $index:literal),* $(,)?) => {
        mod lab_captures {
            $(
                #[test]
                fn $test() {
                    super::lab_capture_still_holds(super::LAB_CAPTURES[$index]);
                }
            )*
        }
    };
}

lab_captures! {
    restart_always => 0,
    on_failure => 1,
    backoff => 2,
    kill_vs_crash => 3,
    always_after_stop => 4,
    unless_stopped_after_stop => 5,
    daemon_crash => 6,
    live_restore => 7,
    policies_under_daemon_crash => 8,
    policies_under_daemon_stop => 9,
    policies_under_live_restore => 10,
    failed_start => 11,
    failed_restart => 12,
    unhealthy_is_not_restarted => 13,
}

#[test]
fn shapes_mask_numbers_and_run_ids_only() {
    assert_eq!(
        shape("PASS  scenario x on lab 20261126-184339-a92e (engine 20.10.24+dfsg1), run 1"),
        "PASS  scenario x on lab <run> (engine #+dfsg#), run #"
    );
    assert_eq!(shape("   10.8s  counter = 4"), "   #s  counter = #");
    assert_eq!(
        counts(
            "  critical: counter 6, 6 starts, 6 dies, RestartCount 1, 0 reconciled from inspect",
            "critical"
        ),
        BTreeMap::from([
            ("RestartCount".into(), 1),
            ("counter".into(), 6),
            ("reconciled".into(), 0),
            ("dies".into(), 6),
            ("starts".into(), 6),
        ])
    );
    assert!(placeholder("NAME") && placeholder("…") && !placeholder("restart-always"));
    let ids = heading_ids("# A `b` c\n## A b c\n```\n# not\n```\n## [Link](x.md) here\n");
    assert_eq!(
        ids,
        BTreeSet::from(["a-b-c".into(), "a-b-c-1".into(), "link-here".into()])
    );
}

/// A chapter's "→ scenario `X`" is a link to X on the scenarios page, so that a reader gets from
/// the claim to the file that backs it in one click.
#[test]
fn every_scenario_reference_is_a_link_to_the_scenarios_page() {
    let mut problems = Vec::new();
    let mut links = 0;
    for (page, text) in pages() {
        if page.starts_with("reference") || page.starts_with("generated") {
            continue;
        }
        let (prose, _) = split_fences(&text);
        let joined: String = prose.iter().map(|(_, l)| format!("{l}\n")).collect();
        let flat = joined.replace('\n', " ");
        for (at, _) in flat.match_indices("→ scenario `") {
            let name: String = flat[at + "→ scenario `".len()..]
                .chars()
                .take_while(|&c| c != '`')
                .collect();
            let link = format!(
                "[→ scenario `{name}`](reference/scenarios.md#{})",
                name.replace('/', "-")
            );
            if flat[at.saturating_sub(1)..].starts_with(&link) {
                links += 1;
            } else {
                problems.push(format!(
                    "{}: → scenario `{name}` is not {link}",
                    page.display()
                ));
            }
        }
    }
    assert!(
        links >= 20,
        "only {links} scenario links found: is the reader broken?"
    );
    assert_none(problems, "scenario references that are not links");
}
