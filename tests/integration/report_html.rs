//! The HTML report in a real browser: a simulated run of two services — one crashed from the
//! host, one killed through the API, then the daemon crashed and started again — written as
//! report.html and opened by headless Chromium, whose DOM must show a lane per service, both
//! kinds of operation marker, the daemon's down time shaded, and every property's verdict.
//! Chromium also takes a screenshot (for a person to look at; the test checks it was made).
//!
//! No skip: without Chromium (`apt-get install chromium`, as .ci/run does) the test fails and
//! says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use halab_chaos::{RunOptions, RuntimeChoice, Verdict};

const CHROMIUM: &str = "/usr/bin/chromium";

const SCENARIO: &str = r#"
name = "report-html"
summary = "two services: a crash from the host, a docker kill, then a daemon crash"

[services.web]
restart = "always"
program = { runs = ["forever"] }

[services.db]
restart = "unless-stopped"
program = { runs = ["forever"] }

[[phases]]
name = "running"
do = [{ op = "wait", for = 1 }]

[[phases]]
name = "crash"
do = [{ op = "crash", signal = "KILL", service = "web" }, { op = "wait", starts = 1, service = "web", timeout = 30 }]

[[phases]]
name = "docker-kill"
do = [{ op = "docker-kill", service = "db" }, { op = "wait", for = 1 }]

[[phases]]
name = "daemon-crashed"
do = ["daemon-crash", { op = "wait", for = 2 }]

[[phases]]
name = "daemon-back"
do = ["daemon-start", { op = "wait", starts = 1, service = "web", timeout = 60 }, { op = "wait", for = 1 }]
"#;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halab-report-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn simulated(dir: &Path) -> halab_chaos::Report {
    let path = dir.join("report-html.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    let scenario = halab_chaos::scenario::parse(&path, SCENARIO, &[]).expect("the scenario parses");
    let options = RunOptions {
        runtime: RuntimeChoice::Sim {
            seed: 7,
            live_restore: false,
            engine: halab_model::EngineVersion::V20_10,
        },
        skip_daemon_phases: false,
        busybox: None,
        state_root: dir.join("state"),
        reference: halab_model::Reference::Engine,
        min_late_ms: 0,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(halab_chaos::run(
            &scenario,
            &options,
            &mut halab_chaos::view::Silent,
        ))
        .expect("the simulated run")
}

/// Chromium, headless, with `args` and the page; what it printed, or why not.
fn chromium(dir: &Path, args: &[String], page: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test opens the HTML report in headless Chromium \
         (`apt-get install -y chromium`, which .ci/run does)"
    );
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", dir.join("profile").display()),
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
    // Read while it runs, so that a full pipe cannot stall it.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        })
    });
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        })
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = stdout
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    let err = stderr
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    assert!(status.success(), "chromium {args:?}: {status}\n{err}");
    out
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let dir = scratch();
    let report = simulated(&dir);
    assert_eq!(report.verdict, Verdict::Pass, "{}", report.summary());
    let page = dir.join("report.html");
    std::fs::write(&page, halab_chaos::html::html(&report)).unwrap();

    let dom = chromium(&dir, &["--dump-dom".into()], &page);
    assert!(dom.contains("<svg"), "no timeline in the DOM:\n{dom}");
    assert_eq!(
        dom.matches(r#"<g class="lane" data-service=""#).count(),
        2,
        "one lane per service"
    );
    for service in ["web", "db"] {
        assert!(
            dom.contains(&format!(r#"<g class="lane" data-service="{service}">"#)),
            "no lane for {service}"
        );
    }
    assert!(dom.contains(r#"class="op crash""#), "no crash marker");
    assert!(
        dom.contains(r#"class="op api-kill""#),
        "no docker kill marker"
    );
    assert!(
        dom.contains(r#"class="op daemon-crash""#),
        "no daemon crash marker"
    );
    assert!(
        dom.contains(r#"<rect class="downtime""#),
        "the daemon's down time is not shaded"
    );
    assert!(
        dom.contains("crash: a signal from the host") && dom.contains("docker kill (Engine API)")
    );
    assert!(!report.checks.is_empty());
    for check in &report.checks {
        let row = format!(
            r#"id="check-{}-{}" data-verdict="{}""#,
            check.subject,
            check.name,
            match check.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "fail",
                Verdict::Unknown => "unknown",
                Verdict::NotRun => "not-run",
            }
        );
        assert!(dom.contains(&row), "no verdict row `{row}`");
    }
    assert!(dom.contains(r#"<table class="metrics" id="metrics">"#));

    let shot = dir.join("report.png");
    chromium(
        &dir,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1800".into(),
            "--hide-scrollbars".into(),
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("chromium wrote no screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    // HALAB_KEEP_REPORT=1 keeps the page and its screenshot for a person to look at.
    if std::env::var_os("HALAB_KEEP_REPORT").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
