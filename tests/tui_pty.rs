//! The real binary in a real pseudo-terminal (tmux): open the TUI, train a run from the form,
//! promote it, score the test file, read the prediction log on the Monitor screen, and quit; then check the screen text and the database.
//! And the whole job from the keys: a tune to its end, scoring with logging, outcomes imported.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::tmux::Tmux;

/// Waits until the screen no longer shows `text`; fails after 10 s.
fn wait_gone(t: &Tmux, text: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while t.screen().contains(text) {
        assert!(Instant::now() < end, "'{text}' is still on the screen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alias_version(ws: &Path) -> Option<i64> {
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    db.query_row(
        "SELECT version FROM aliases WHERE alias = 'production'",
        [],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn train_promote_and_score_from_the_tui_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(
        ws,
        &["data", "synth", "--rows", "3000", "--test-rows", "1000"],
    );
    let t = Tmux::new("flow");
    t.start(ws, 160, 45, &[]);
    let s = t.wait_for("1 Runs", 30);
    assert!(s.contains("0 of 0 runs"), "{s}");

    // A new run from the form: lr, its defaults, the workspace's training file.
    t.keys(&["n"]);
    t.wait_for("New run", 10);
    // From gbdt, round past linfa's two families to lr.
    t.keys(&["Right", "Right", "Right"]);
    t.wait_for("◀ lr ▶", 10);
    t.keys(&["Enter"]);
    let s = t.wait_for("lr finished: ROC AUC", 180);
    assert!(
        s.lines()
            .any(|l| l.contains(" lr ") && l.contains(" finished 0.7")),
        "the table shows the finished run:\n{s}"
    );

    // The next form keeps lr; Ctrl-R (a chord a real terminal sends) brings back the defaults.
    t.keys(&["n"]);
    t.wait_for("◀ lr ▶", 10);
    t.keys(&["C-r"]);
    t.wait_for("◀ gbdt ▶", 10);
    t.keys(&["Escape"]);
    wait_gone(&t, "New run");
    // A kept filter that matches nothing says so; Esc clears it.
    t.keys(&["/", "z", "z", "z", "Enter"]);
    t.wait_for("no runs match 'zzz'; Esc clears it", 10);
    t.keys(&["Escape"]);
    t.wait_for("Runs (n new", 10);
    let db = rusqlite::Connection::open(ws.join("staytrack.db")).unwrap();
    let (status, family): (String, String) = db
        .query_row("SELECT status, family FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), family.as_str()), ("finished", "lr"));
    assert_eq!(alias_version(ws), None);

    // Promote, with a reason typed into the dialog (its letters, n and q included, type).
    t.keys(&["p"]);
    t.wait_for("Promote lr (lr) to production?", 10);
    t.keys(&["-l", "first model, no queue yet"]);
    t.wait_for("reason: first model, no queue yet", 10);
    t.keys(&["Enter"]);
    t.wait_for("production: none → version 1", 10);
    assert_eq!(alias_version(ws), Some(1));
    let (actor, reason): (String, String) = db
        .query_row("SELECT actor, reason FROM alias_events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(actor.starts_with("tui:"), "{actor}");
    assert_eq!(reason, "first model, no queue yet");

    // Score the test file with it.
    t.keys(&["4"]);
    t.wait_for("File to score", 10);
    t.keys(&["Enter"]);
    let s = t.wait_for("scored 1,000 rows", 60);
    assert!(s.contains("production: version 1 (lr, lr)"), "{s}");
    let out = ws.join("predictions/test_data.v1.csv");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1001);
    // A second, smaller file of the same name: a new file, the first one kept.
    let few: String = std::fs::read_to_string(ws.join("data/test_data.csv"))
        .unwrap()
        .lines()
        .take(31)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::create_dir_all(ws.join("later")).unwrap();
    std::fs::write(ws.join("later/test_data.csv"), few).unwrap();
    t.keys(&["f", "C-u"]);
    t.keys(&["-l", &ws.join("later/test_data.csv").display().to_string()]);
    t.keys(&["Enter", "Enter"]);
    let s = t.wait_for("scored 30 rows", 60);
    assert!(s.contains("test_data.v1.csv is kept"), "{s}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1001);
    let second = ws.join("predictions/test_data.v1-2.csv");
    assert_eq!(std::fs::read_to_string(second).unwrap().lines().count(), 31);

    // The Monitor screen reads the prediction log: a batch logged from the command line.
    let logged = ws.join("logged.csv");
    common::ok(
        ws,
        &[
            "score",
            ws.join("later/test_data.csv").to_str().unwrap(),
            "--log",
            "--out",
            logged.to_str().unwrap(),
        ],
    );
    t.keys(&["6"]);
    let s = t.wait_for("30 predictions, 0 labelled, 1 window(s) of 1h", 30);
    assert!(s.contains("version 1: validation ROC AUC"), "{s}");
    assert!(s.contains("ROC AUC per window"), "{s}");

    // The help overlay, then quit: exit status 0 and the terminal back to its normal screen.
    t.keys(&["?"]);
    t.wait_for("? closes", 10);
    t.keys(&["?"]);
    t.keys(&["q"]);
    let s = t.wait_for("staytrack exited with", 10);
    assert!(s.contains("staytrack exited with 0"), "{s}");
    assert!(!s.contains("1 Runs"), "the alternate screen is left:\n{s}");
}

#[test]
fn tune_then_score_with_logging_then_import_outcomes_from_the_tui() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(
        ws,
        &["data", "synth", "--rows", "2000", "--test-rows", "200"],
    );
    let t = Tmux::new("job");
    t.start(ws, 160, 45, &[]);
    t.wait_for("0 of 0 runs", 30);

    // A tune of lr with a four-second budget, to its end.
    t.keys(&["t"]);
    t.wait_for("Tune: sampled parameters", 10);
    t.keys(&["C-u", "l", "r", "Tab", "C-u"]);
    t.keys(&["-l", "4s"]);
    t.keys(&["Tab", "Tab"]);
    t.keys(&["-l", "e2e"]);
    t.keys(&["Enter"]);
    t.wait_for("tune e2e: ", 30);
    let s = t.wait_for(" trial(s) in ", 90);
    let line = s
        .lines()
        .find(|l| l.contains("tune e2e: ") && l.contains(" trial(s) in "))
        .unwrap();
    let said: usize = line
        .split("tune e2e: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(line.contains("of a 4 s budget; best e2e-lr-"), "{line}");
    let store = staytrack::tracking::Store::open(&ws.join("staytrack.db")).unwrap();
    let trials = store
        .list_runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.params.get("sweep").map(String::as_str) == Some("e2e"))
        .filter(|r| r.params.get("stopped").map(String::as_str) != Some("default"))
        .count();
    assert!(trials > 0);
    assert_eq!(said, trials, "the message counts the trials in the store");
    wait_gone(&t, " Sweep ");

    // The newest trial to production, then the test file scored with logging on.
    t.keys(&["p"]);
    t.wait_for("to production?", 10);
    t.keys(&["-l", "best of the tune"]);
    t.keys(&["Enter"]);
    t.wait_for("production: none → version 1", 10);
    t.keys(&["4"]);
    t.wait_for("log for monitoring: off (l turns it on)", 10);
    t.keys(&["l"]);
    t.wait_for("log for monitoring: on (l turns it off)", 10);
    t.keys(&["Enter"]);
    t.wait_for("200 rows added to the prediction log", 60);
    assert_eq!(store.count_predictions().unwrap(), 200);

    // Outcomes for 50 of them, by the spec's id and label columns, imported on Monitor.
    let cfg = staytrack::config::Config::resolve(Some(ws));
    let spec = staytrack::data::DatasetSpec::of_workspace(&cfg).unwrap();
    let (id, label) = staytrack::feedback::columns(&spec, None, None).unwrap();
    let test = std::fs::read_to_string(ws.join("data/test_data.csv")).unwrap();
    let header: Vec<&str> = test.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == id).unwrap();
    let mut csv = format!("{id},{label}\n");
    for (i, l) in test.lines().skip(1).take(50).enumerate() {
        csv += &format!("{},{}\n", l.split(',').nth(at).unwrap(), i % 2);
    }
    std::fs::write(ws.join("outcomes.csv"), csv).unwrap();
    t.keys(&["6"]);
    t.wait_for("200 predictions, 0 labelled", 30);
    t.keys(&["o"]);
    t.wait_for("Import outcomes", 10);
    t.keys(&["-l", "outcomes.csv"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("Outcomes imported", 30);
    // The summary `staytrack feedback` prints, whole on the status line.
    assert!(
        s.contains(
            "outcomes.csv: 50 rows: 50 new, 0 unchanged, 0 changed, 0 repeated, 0 conflicting, \
             0 skipped; 0 with no logged prediction yet"
        ),
        "{s}"
    );
    assert_eq!(store.count_outcomes().unwrap(), 50);
    // Any key closes the summary; the log is read again with the outcomes.
    t.keys(&["Escape"]);
    wait_gone(&t, "Outcomes imported");
    t.wait_for("200 predictions, 50 labelled", 30);
    t.keys(&["q"]);
    let s = t.wait_for("staytrack exited with", 10);
    assert!(s.contains("staytrack exited with 0"), "{s}");
}

#[test]
fn ctrl_c_quits_cleanly_and_a_resize_redraws() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(
        ws,
        &["data", "synth", "--rows", "500", "--test-rows", "100"],
    );
    let t = Tmux::new("quit");
    t.start(ws, 150, 40, &[]);
    let s = t.wait_for("1 Runs", 30);
    let width = |s: &str| {
        s.lines()
            .find(|l| l.starts_with('┌'))
            .map_or(0, |l| l.chars().count())
    };
    assert_eq!(width(&s), 150, "{s}");
    t.cmd(&["resize-window", "-t", "e2e", "-x", "90", "-y", "30"]);
    let end = Instant::now() + Duration::from_secs(10);
    while width(&t.screen()) != 90 {
        assert!(
            Instant::now() < end,
            "no redraw at 90 columns:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["C-c"]);
    let s = t.wait_for("staytrack exited with", 10);
    assert!(s.contains("staytrack exited with 0"), "{s}");
}

#[test]
fn a_panic_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    common::ok(
        ws,
        &["data", "synth", "--rows", "500", "--test-rows", "100"],
    );
    let t = Tmux::new("panic");
    t.start(ws, 120, 30, &["STAYTRACK_TEST_PANIC=1", "RUST_BACKTRACE=0"]);
    let s = t.wait_for("staytrack exited with", 30);
    assert!(s.contains("staytrack exited with 101"), "{s}");
    assert!(
        s.contains("STAYTRACK_TEST_PANIC is set"),
        "the panic message is readable:\n{s}"
    );
    assert!(!s.contains("1 Runs"), "the alternate screen is left:\n{s}");
    // Raw mode is off again: typed text echoes and a line ends with Enter.
    t.keys(&["echo cooked-mode-ok", "Enter"]);
    t.wait_for("cooked-mode-ok", 10);
}

#[test]
fn a_first_start_generates_the_data_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let t = Tmux::new("first");
    t.start(ws, 100, 30, &[]);
    // The data is generated before the UI opens; the UI then says it was and what to do next.
    let s = t.wait_for("Press n to train your first run", 60);
    assert!(s.contains("generated the synthetic"), "{s}");
    assert!(ws.join("data/train_data.csv").is_file());
    // `n` opens the form on that file.
    t.keys(&["n"]);
    let s = t.wait_for("New run", 10);
    assert!(s.contains("train_data.csv"), "{s}");
    // Esc alone (an Esc followed at once by q reads as Alt-q), then q once the form is gone.
    t.keys(&["Escape"]);
    wait_gone(&t, "New run");
    t.keys(&["q"]);
    let s = t.wait_for("staytrack exited with", 10);
    assert!(s.contains("staytrack exited with 0"), "{s}");
}

/// Words of the built-in dataset that no screen may show for another table ("stays" is left
/// out: the help says a baseline "stays in view").
const HOSPITAL_WORDS: [&str; 4] = ["stay", "hospital", "days", "long_stay"];

/// A table of the test's own: text ids (`MRN-000123`), two inputs and a yes/no target with a
/// planted signal.
fn own_table(path: &Path, rows: usize, first: usize) {
    let mut out = String::from("patient_ref,age,region,readmitted\n");
    for i in first..first + rows {
        let age = 20 + (i * 37) % 70;
        let region = ["north", "south", "east"][i % 3];
        let yes = (age as f64 / 90.0) + if region == "east" { 0.3 } else { 0.0 }
            > 0.55 + 0.2 * (((i * 7919) % 100) as f64 / 100.0);
        out.push_str(&format!(
            "MRN-{i:06},{age},{region},{}\n",
            if yes { "yes" } else { "no" }
        ));
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn every_screen_of_a_workspace_with_its_own_table_speaks_that_table_s_words() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    own_table(&ws.join("visits.csv"), 1200, 0);
    own_table(&ws.join("incoming.csv"), 300, 5000);
    common::ok(
        ws,
        &[
            "data",
            "init",
            ws.join("visits.csv").to_str().unwrap(),
            "--target",
            "readmitted",
            "--positive",
            "yes",
        ],
    );
    // The Score and Drift screens read the workspace's test file.
    let settings = ws.join("staytrack.toml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("test = \"incoming.csv\"\n");
    std::fs::write(&settings, text).unwrap();
    common::ok(ws, &["train", "--model", "lr,gbdt"]);
    common::ok(ws, &["promote", "--best"]);

    let t = Tmux::new("own");
    t.start(ws, 140, 40, &[]);
    t.wait_for("2 of 2 runs", 30);
    let mut seen = Vec::new();
    // Each key on its own, with a pause, so an Esc and the key after it are not read as Alt.
    let press = |k: &str| {
        t.keys(&[k]);
        std::thread::sleep(Duration::from_millis(400));
    };
    // Runs, a run's details, Compare, Registry, Score after scoring the test file, Drift after
    // its check, Monitor, and the help.
    seen.push(("Runs", t.screen()));
    press("Enter");
    seen.push(("Details", t.screen()));
    press("Escape");
    // Both runs selected for Compare.
    press("Space");
    press("j");
    press("Space");
    press("2");
    seen.push(("Compare", t.wait_for("roc_auc", 10)));
    press("3");
    seen.push(("Registry", t.screen()));
    // Scored with logging on, so the Monitor screen has a window to show.
    press("4");
    press("l");
    press("Enter");
    let s = t.wait_for("incoming.v1.csv", 60);
    seen.push(("Score", s));
    press("5");
    press("Enter");
    std::thread::sleep(Duration::from_secs(3));
    seen.push(("Drift", t.screen()));
    press("6");
    press("Enter");
    std::thread::sleep(Duration::from_secs(2));
    seen.push(("Monitor", t.screen()));
    press("?");
    seen.push(("Help", t.wait_for("Keys 1", 10)));
    press("G");
    seen.push(("Help's end", t.wait_for("clear the path", 10)));
    // SHOW_SCREENS=1 prints every screen read, to see what the test saw.
    if std::env::var_os("SHOW_SCREENS").is_some() {
        for (name, s) in &seen {
            eprintln!("== {name}\n{s}");
        }
    }
    let all: String = seen.iter().map(|(_, s)| s.as_str()).collect();
    for (name, screen) in &seen {
        let lower = screen.to_lowercase();
        for word in lower.split(|c: char| !c.is_alphanumeric() && c != '_') {
            assert!(
                !HOSPITAL_WORDS.contains(&word),
                "{name} says '{word}' on a table that is not the hospital's:\n{screen}"
            );
        }
    }
    // The table's own words are there instead: its target and its positive label.
    assert!(
        all.contains("readmitted"),
        "no screen names the target:\n{all}"
    );
    // The first q closes the help, the second quits.
    press("q");
    t.keys(&["q"]);
    t.wait_for("staytrack exited with 0", 10);
}
