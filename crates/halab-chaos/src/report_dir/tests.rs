use super::*;
use crate::Verdict;
use crate::testing::scratch;

/// `scenarios/NAME.toml` played in the simulator through a streaming report directory.
fn streamed(name: &str, dir: &Path) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.toml"));
    let scenario = crate::scenario::load(&path, &[]).unwrap();
    let report_dir = ReportDir::create(dir).unwrap();
    report_dir.write_plan(&scenario, None).unwrap();
    let mut stream = report_dir.stream(Box::new(crate::view::Silent)).unwrap();
    let report = crate::testing::play_in_sim(&scenario, &mut stream);
    stream.into_result().unwrap();
    report
}

#[test]
fn the_stream_holds_the_history_as_it_was_recorded_and_judges_the_same() {
    let dir = scratch("stream-whole");
    let report = streamed("kill-vs-crash", &dir);
    assert_eq!(report.verdict, Verdict::Pass);
    // Before the end is written, the stream alone holds every entry.
    let loaded = ReportDir::load(&dir).unwrap();
    assert!(!loaded.finished);
    assert_eq!(
        loaded.history.entries().len(),
        report.history.entries().len()
    );
    assert_eq!(loaded.history, report.history);
    assert_eq!(loaded.started.as_ref().unwrap().run_id, report.run_id);
    // Once finished, it judges the same as the run did.
    ReportDir::existing(&dir).finish(&report, None).unwrap();
    let again = crate::judge_again(ReportDir::load(&dir).unwrap());
    assert_eq!(again.verdict, report.verdict);
    assert_eq!(again.checks.len(), report.checks.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_prefix_is_never_judged_a_pass() {
    let dir = scratch("stream-prefix");
    let report = streamed("kill-vs-crash", &dir);
    let text = std::fs::read_to_string(dir.join(HISTORY)).unwrap();
    let lines = text.lines().count();
    for keep in [lines / 4, lines / 2, lines - 1] {
        // Cut in the middle of line `keep + 1`: a runner killed while writing it.
        let cut: usize = text.lines().take(keep).map(|l| l.len() + 1).sum::<usize>() + 10;
        std::fs::write(dir.join(HISTORY), &text[..cut]).unwrap();
        let loaded = ReportDir::load(&dir).unwrap();
        assert!(loaded.torn_line);
        assert_eq!(loaded.history.entries().len(), keep);
        let judged = crate::judge_again(loaded);
        assert_ne!(
            judged.verdict,
            Verdict::Pass,
            "a prefix of {keep} entries passed"
        );
        assert_eq!(judged.checks[0].name, "run-finished");
    }
    assert_eq!(report.verdict, Verdict::Pass);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_with_a_run_is_never_written_over_and_bad_files_are_named() {
    let dir = scratch("stream-taken");
    std::fs::write(dir.join(HISTORY), "").unwrap();
    let taken = ReportDir::create(&dir).unwrap_err().to_string();
    assert!(taken.contains("never written over"), "{taken}");
    let missing = ReportDir::load(&dir).err().unwrap().to_string();
    assert!(missing.contains("has no scenario.json"), "{missing}");
    std::fs::write(dir.join(SCENARIO), "{").unwrap();
    let corrupt = ReportDir::load(&dir).err().unwrap().to_string();
    assert!(corrupt.contains("scenario.json:"), "{corrupt}");
    std::fs::remove_dir_all(&dir).unwrap();
}
