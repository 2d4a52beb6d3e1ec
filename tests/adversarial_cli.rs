//! The CLI against hostile files and hostile text (issue 9): symbolic link
//! loops, FIFOs, deep trees, huge and empty inputs, `--output` aimed at an
//! input, and templates, requests and bundles that try to write to the
//! terminal. Every run has a deadline, so a regression fails instead of
//! hanging the test suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{copy_dir, root, text};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NOW: &str = "2026-11-29T00:00:00Z";
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `palisade ARGS` (in `dir`, with `stdin` fed to it and `env` set) and
/// kills it after [`DEADLINE`]: a hang is a test failure, not a stuck run.
fn run(args: &[&str], dir: &Path, stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .current_dir(dir)
        .env("PALISADE_CACHE_DIR", dir.join(".cache"))
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        if *k == "NO_COLOR" && v.is_empty() {
            cmd.env_remove("NO_COLOR");
        } else {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        // The child may stop reading early (a size limit): ignore EPIPE.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            let _ = child.wait();
            panic!(
                "`palisade {}` did not finish within {DEADLINE:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn secure() -> PathBuf {
    root().join("examples/sam/secure.yaml")
}

fn insecure() -> PathBuf {
    root().join("examples/sam/insecure.yaml")
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", text(&o.stdout), text(&o.stderr)))
}

/// The files the findings of a `check --format json` are in, and how many
/// findings each has.
fn findings_per_file(v: &serde_json::Value) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for f in v["findings"].as_array().unwrap() {
        *m.entry(f["file"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------
// Walking directories

#[test]
fn issue9_symlink_loops_end_and_each_file_is_checked_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("infra");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::copy(insecure(), d.join("a.yaml")).unwrap();
    // A loop to itself, one to the parent, and a second name for the file.
    std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("../a.yaml", d.join("sub/again.yaml")).unwrap();
    std::fs::hard_link(d.join("a.yaml"), d.join("hard.yaml")).unwrap();

    let once = json(&run(
        &["check", "a.yaml", "--format", "json", "--now", NOW],
        &d,
        None,
        &[],
    ));
    let per_file = findings_per_file(&once);
    let expected = per_file.values().sum::<usize>();

    let o = run(
        &["check", "infra", "--format", "json", "--now", NOW],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let v = json(&o);
    let files = findings_per_file(&v);
    assert_eq!(
        files.len(),
        1,
        "one file behind four names is checked once: {files:?}"
    );
    assert_eq!(files.values().sum::<usize>(), expected);
}

#[test]
fn issue9_a_fifo_in_a_directory_is_skipped_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("infra");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(secure(), d.join("secure.yaml")).unwrap();
    mkfifo(&d.join("x.yaml"));
    let o = run(&["check", "infra", "--now", NOW], tmp.path(), None, &[]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("in 1 file"), "{}", text(&o.stdout));
}

#[test]
fn issue9_a_fifo_on_the_command_line_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    mkfifo(&tmp.path().join("x.yaml"));
    let o = run(&["check", "x.yaml"], tmp.path(), None, &[]);
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("`x.yaml` is a FIFO (named pipe), not a regular file"),
        "{err}"
    );
}

#[test]
fn issue9_directories_nested_too_deep_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = tmp.path().join("infra");
    for _ in 0..70 {
        d = d.join("d");
    }
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(secure(), d.join("t.yaml")).unwrap();
    let o = run(&["check", "infra", "--now", NOW], tmp.path(), None, &[]);
    assert_eq!(code(&o), 2, "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("nested more than 64 directories deep below `infra`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_too_many_files_are_refused_before_any_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("infra");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..20_001 {
        std::fs::File::create(d.join(format!("{i}.yaml"))).unwrap();
    }
    let o = run(&["check", "infra", "--now", NOW], tmp.path(), None, &[]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("more than 20000 files to check"),
        "{}",
        text(&o.stderr)
    );
}

// ---------------------------------------------------------------------------
// Sizes and empty input

#[test]
fn issue9_a_file_over_the_size_limit_is_refused_naming_file_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.yaml");
    std::fs::write(&big, "- a\n".repeat(300)).unwrap();
    let o = run(
        &["check", "big.yaml", "--max-file-size", "1KiB"],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains(
            "`big.yaml` is larger than the maximum input file size of 1024 bytes (raise it with --max-file-size)"
        ),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_the_default_size_limit_is_32_mib() {
    let tmp = tempfile::tempdir().unwrap();
    // Sparse: refused from its size, without reading 33 MiB.
    let f = std::fs::File::create(tmp.path().join("huge.yaml")).unwrap();
    f.set_len(33 << 20).unwrap();
    let o = run(&["check", "huge.yaml"], tmp.path(), None, &[]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr)
            .contains("`huge.yaml` is larger than the maximum input file size of 32 MiB"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_standard_input_is_bounded_too() {
    let tmp = tempfile::tempdir().unwrap();
    let input = "- a\n".repeat(10_000);
    let o = run(
        &["check", "-", "--max-file-size", "4K"],
        tmp.path(),
        Some(input.as_bytes()),
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr)
            .contains("`standard input` is larger than the maximum input file size of 4096 bytes"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_empty_input_does_not_pass() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty.yaml"), "").unwrap();
    std::fs::write(tmp.path().join("blank.yaml"), "  \n\n").unwrap();
    std::fs::write(tmp.path().join("other.yaml"), "name: not a deployment\n").unwrap();
    let expected = "empty input; expected a CloudFormation or SAM template";
    for (args, stdin, expected) in [
        (vec!["check", "-"], Some(&b""[..]), expected),
        (
            vec!["check", "-"],
            Some(&b"Killed"[..]),
            "plain text, not a deployment",
        ),
        (
            vec!["check", "-"],
            Some(&b"terraform: command not found"[..]),
            "a mapping that is no deployment",
        ),
        (vec!["check", "empty.yaml"], None, expected),
        (vec!["check", "blank.yaml"], None, expected),
        (
            vec!["check", "other.yaml"],
            None,
            "other.yaml:1:1: a mapping that is no deployment description",
        ),
    ] {
        let o = run(&args, tmp.path(), stdin, &[]);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains(expected),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(!text(&o.stdout).contains("PASS"), "{}", text(&o.stdout));
    }
}

#[test]
fn issue9_the_waivers_file_is_bounded_and_never_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(secure(), tmp.path().join("t.yaml")).unwrap();
    let f = std::fs::File::create(tmp.path().join("waivers.yaml")).unwrap();
    f.set_len(17 << 20).unwrap();
    let o = run(
        &["check", "t.yaml", "--waivers", "waivers.yaml"],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr)
            .contains("`waivers.yaml` is larger than the maximum input file size of 16 MiB"),
        "{}",
        text(&o.stderr)
    );
    mkfifo(&tmp.path().join("w.yaml"));
    let o = run(
        &["check", "t.yaml", "--waivers", "w.yaml"],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("FIFO"), "{}", text(&o.stderr));
}

#[test]
fn issue9_test_case_files_are_bounded_and_never_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    copy_dir(&root().join("examples/authz"), &b);
    std::fs::create_dir_all(b.join("tests")).unwrap();
    mkfifo(&b.join("tests/x.yaml"));
    let f = std::fs::File::create(b.join("tests/y.yaml")).unwrap();
    f.set_len(17 << 20).unwrap();
    let o = run(&["test", "bundle"], tmp.path(), None, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(err.contains("`bundle/tests/x.yaml` is a FIFO"), "{err}");
    assert!(
        err.contains("`bundle/tests/y.yaml` is larger than the maximum input file size of 16 MiB"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// --output

#[test]
fn issue9_output_never_overwrites_an_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("infra")).unwrap();
    std::fs::copy(insecure(), d.join("t.yaml")).unwrap();
    std::fs::copy(insecure(), d.join("infra/a.yaml")).unwrap();
    std::fs::hard_link(d.join("t.yaml"), d.join("hard.json")).unwrap();
    std::os::unix::fs::symlink("t.yaml", d.join("link.json")).unwrap();
    let original = std::fs::read(insecure()).unwrap();
    std::fs::write(
        d.join("w.yaml"),
        "waivers:\n  - rule: iam.shared-role\n    owner: ops\n    reason: planned\n    expires: 2099-01-01\n",
    )
    .unwrap();
    let waivers_before = std::fs::read(d.join("w.yaml")).unwrap();
    for (input, output) in [
        ("t.yaml", "t.yaml"),
        ("t.yaml", "./t.yaml"),
        ("t.yaml", "hard.json"),
        ("t.yaml", "link.json"),
        ("infra", "infra/a.yaml"),
        ("hard.json", "t.yaml"),
    ] {
        let o = run(
            &["check", input, "--format", "json", "--output", output],
            d,
            None,
            &[],
        );
        assert_eq!(code(&o), 2, "{input} -> {output}");
        assert!(
            text(&o.stderr).contains("is one of the input files"),
            "{input} -> {output}: {}",
            text(&o.stderr)
        );
        assert_eq!(std::fs::read(d.join("t.yaml")).unwrap(), original);
        assert_eq!(std::fs::read(d.join("infra/a.yaml")).unwrap(), original);
    }
    // Standard input read from the output file.
    let stdin_file = std::fs::File::open(d.join("t.yaml")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "-", "--output", "t.yaml"])
        .current_dir(d)
        .env("PALISADE_CACHE_DIR", d.join(".cache"))
        .stdin(stdin_file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert_eq!(std::fs::read(d.join("t.yaml")).unwrap(), original);
    // The waivers file is an input too.
    let o = run(
        &[
            "check",
            "t.yaml",
            "--waivers",
            "w.yaml",
            "--output",
            "w.yaml",
        ],
        d,
        None,
        &[],
    );
    assert_eq!(code(&o), 2);
    assert_eq!(std::fs::read(d.join("w.yaml")).unwrap(), waivers_before);
}

#[test]
fn issue9_output_is_replaced_atomically() {
    use std::os::unix::fs::MetadataExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(secure(), d.join("t.yaml")).unwrap();
    std::fs::write(d.join("report.json"), "an old report").unwrap();
    let before = std::fs::metadata(d.join("report.json")).unwrap().ino();
    let o = run(
        &[
            "check",
            "t.yaml",
            "--format",
            "json",
            "--output",
            "report.json",
        ],
        d,
        None,
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // A new file renamed over the old one: a reader never sees half a
    // report, and nothing is left beside it.
    let after = std::fs::metadata(d.join("report.json")).unwrap().ino();
    assert_ne!(before, after, "written in place, not renamed over");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(v["decision"], "allow");
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".cache")
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A directory that does not exist: an error, and no temporary file.
    let o = run(
        &["check", "t.yaml", "--output", "nowhere/report.txt"],
        d,
        None,
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("cannot write `nowhere/report.txt`"));
}

// ---------------------------------------------------------------------------
// Text nobody can forge

/// A logical id that clears the screen, writes the clipboard (OSC 52), sets
/// the window title, returns the carriage to print a fake verdict, and
/// holds a DEL and a right-to-left override.
const FORGED_ID: &str =
    "Q\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}]0;pwn\u{7}\rPASS  0 findings\n\u{7f}\u{202e}X";

fn forged_template() -> String {
    let id = serde_json::to_string(FORGED_ID).unwrap();
    // JSON is YAML: the id is written with JSON escapes.
    format!("{{\"Resources\": {{{id}: {{\"Type\": \"AWS::SQS::Queue\"}}}}}}\n")
}

/// The raw bytes an attacker needs, none of which may reach a person.
fn assert_no_raw_controls(out: &[u8], what: &str) {
    assert_no_raw_controls_nor(out, what, "PASS  0 findings");
}

/// [`assert_no_raw_controls`], with `forged` the verdict line to look for.
fn assert_no_raw_controls_nor(out: &[u8], what: &str, forged: &str) {
    let s = text(out);
    for bad in [
        "\u{1b}[2J",
        "\u{1b}]52",
        "\u{1b}]0;",
        "\u{7}",
        "\r",
        "\u{7f}",
        "\u{202e}",
    ] {
        assert!(!s.contains(bad), "{what}: raw {bad:?} in output:\n{s}");
    }
    for line in s.split(['\n', '\r']) {
        assert!(
            !line.trim_start().starts_with(forged),
            "{what}: a forged verdict line: {s}"
        );
    }
}

#[test]
fn issue9_a_template_cannot_write_to_the_terminal_through_check() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "evil\u{1b}]0;title\u{7}.yaml";
    std::fs::write(tmp.path().join(name), forged_template()).unwrap();
    // Piped with NO_COLOR, and as if on a color terminal.
    for env in [vec![], vec![("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]] {
        let o = run(&["check", name, "--now", NOW], tmp.path(), None, &env);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        assert_no_raw_controls(&o.stdout, "check stdout");
        assert_no_raw_controls(&o.stderr, "check stderr");
        let out = text(&o.stdout);
        // Shown, visibly escaped.
        assert!(
            out.contains(
                r"Q\x1b[2J\x1b]52;c;aGk=\x07\x1b]0;pwn\x07\rPASS  0 findings\n\x7f\u{202e}X"
            ),
            "{out}"
        );
        assert!(out.contains(r"evil\x1b]0;title\x07.yaml"), "{out}");
    }
    // The human report in a file too.
    let o = run(
        &["check", name, "--now", NOW, "--output", "report.txt"],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 0);
    assert_no_raw_controls(
        &std::fs::read(tmp.path().join("report.txt")).unwrap(),
        "check --output",
    );
}

#[test]
fn issue9_suppression_reasons_and_waiver_owners_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("t.yaml"),
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties: { SqsManagedSseEnabled: false, RedriveAllowPolicy: { redrivePermission: allowAll } }\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("w.yaml"),
        "waivers:\n  - rule: enc.sqs-unencrypted\n    owner: \"ops\\e[2J\"\n    reason: \"ok\\rPASS  9 findings\\x7f\\u202e\"\n    expires: 2099-01-01\n",
    )
    .unwrap();
    let o = run(
        &["check", "t.yaml", "--waivers", "w.yaml", "--now", NOW],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_no_raw_controls_nor(&o.stdout, "suppressed", "PASS  9 findings");
    assert!(
        text(&o.stdout).contains(r"ok\rPASS  9 findings\x7f\u{202e}"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn issue9_json_keeps_the_logical_id_byte_exact_piped_and_in_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("t.yaml"), forged_template()).unwrap();
    let o = run(
        &["check", "t.yaml", "--format", "json", "--now", NOW],
        tmp.path(),
        None,
        &[],
    );
    let piped = json(&o);
    let o = run(
        &[
            "check", "t.yaml", "--format", "json", "--now", NOW, "--output", "r.json",
        ],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let bytes = std::fs::read(tmp.path().join("r.json")).unwrap();
    assert!(bytes.contains(&0x7f), "DEL kept as a raw byte in JSON");
    let written: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for v in [&piped, &written] {
        let ids: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["resource"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![FORGED_ID], "{v}");
    }
    // SARIF keeps it too.
    let o = run(
        &["check", "t.yaml", "--format", "sarif", "--now", NOW],
        tmp.path(),
        None,
        &[],
    );
    let sarif = json(&o);
    assert_eq!(
        sarif["runs"][0]["results"][0]["properties"]["resource"],
        FORGED_ID
    );
}

#[test]
fn issue9_plugin_messages_in_authorize_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    copy_dir(&root().join("examples/authz"), &b);
    // Without the schema, any context attribute goes to the secrets
    // plugin, which names it in its message.
    let manifest = std::fs::read_to_string(b.join("palisade.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("schema"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(b.join("palisade.toml"), manifest).unwrap();
    let key = "note\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\rPASS  0 findings\u{7f}\u{202e}";
    let req = serde_json::json!({
        "principal": "User::\"alice\"",
        "action": "Action::\"viewOrder\"",
        "resource": "Order::\"o-1001\"",
        "context": { key: "use AKIAIOSFODNN7EXAMPLE to fetch the invoice" }
    });
    std::fs::write(tmp.path().join("req.json"), req.to_string()).unwrap();
    for env in [vec![], vec![("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]] {
        let o = run(
            &[
                "authorize",
                "--bundle",
                "bundle",
                "--request-json",
                "req.json",
                "--now",
                NOW,
            ],
            tmp.path(),
            None,
            &env,
        );
        assert_eq!(code(&o), 1, "{}", text(&o.stderr));
        assert_no_raw_controls(&o.stdout, "authorize");
        assert!(
            text(&o.stdout).contains(
                r"`note\x1b[2J\x1b]52;c;aGk=\x07\rPASS  0 findings\x7f\u{202e}` contains"
            ),
            "{}",
            text(&o.stdout)
        );
    }
    // JSON is byte-exact.
    let o = run(
        &[
            "authorize",
            "--bundle",
            "bundle",
            "--request-json",
            "req.json",
            "--now",
            NOW,
            "--format",
            "json",
        ],
        tmp.path(),
        None,
        &[],
    );
    let v = json(&o);
    let messages: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains(key)), "{messages:?}");
}

#[test]
fn issue9_bundle_inspect_escapes_what_the_bundle_says() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("palisade.toml"),
        "[bundle]\nname = \"evil\\u001b[2J\"\nversion = \"1\\r\"\ndescription = \"desc\\u001b]0;title\\u0007\\rPASS  0 findings\"\n[cedar]\npolicies = [\"p.cedar\"]\n",
    )
    .unwrap();
    std::fs::write(
        b.join("p.cedar"),
        "@id(\"pwn\")\n@category(\"other\") @severity(\"high\")\n@message(\"m\\u{1b}[2J\\u{7f}\\u{202e}\")\nforbid (principal, action, resource);\n",
    )
    .unwrap();
    for env in [vec![], vec![("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]] {
        let o = run(&["bundle", "inspect", "b"], tmp.path(), None, &env);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        assert_no_raw_controls(&o.stdout, "bundle inspect");
        let out = text(&o.stdout);
        assert!(
            out.contains(r"desc\x1b]0;title\x07\rPASS  0 findings"),
            "{out}"
        );
        let o = run(&["bundle", "validate", "b"], tmp.path(), None, &env);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        assert_no_raw_controls(&o.stdout, "bundle validate");
    }
    // A policy id with control characters is refused, and the refusal
    // shows them escaped.
    std::fs::write(
        b.join("p.cedar"),
        "@id(\"pwn\\u{1b}[2J\\u{7f}\\u{202e}\")\n@category(\"other\") @severity(\"high\")\nforbid (principal, action, resource);\n",
    )
    .unwrap();
    let o = run(&["bundle", "inspect", "b"], tmp.path(), None, &[]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert_no_raw_controls(&o.stderr, "bundle inspect");
    assert!(
        text(&o.stderr).contains("may use only letters"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_request_and_context_that_name_a_key_twice_are_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("req.json"),
        r#"{"principal":"User::\"alice\"","action":"Action::\"viewOrder\"","principal":"User::\"admin\"","resource":"Order::\"o-1\""}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("ctx.json"),
        "{\n  \"mfa\": false,\n  \"mfa\": true\n}\n",
    )
    .unwrap();
    let bundle = root().join("examples/authz");
    let bundle = bundle.to_str().unwrap();
    let o = run(
        &[
            "authorize",
            "--bundle",
            bundle,
            "--request-json",
            "req.json",
            "--now",
            NOW,
        ],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("req.json: ")
            && text(&o.stderr).contains("duplicate key `principal`"),
        "{}",
        text(&o.stderr)
    );
    let o = run(
        &[
            "authorize",
            "--bundle",
            bundle,
            "--principal",
            "User::\"alice\"",
            "--action",
            "Action::\"viewOrder\"",
            "--resource",
            "Order::\"o-1\"",
            "--context",
            "ctx.json",
            "--now",
            NOW,
        ],
        tmp.path(),
        None,
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("ctx.json:3:") && text(&o.stderr).contains("duplicate key `mfa`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn issue9_a_reader_that_goes_away_is_an_error_not_a_panic() {
    // `palisade ... | head -1`: standard output closed before the command
    // writes. Every command reports it and exits 2.
    let tmp = tempfile::tempdir().unwrap();
    let template = root().join("examples/sam/insecure.yaml");
    let tests = root().join("policies/gateway-baseline");
    let cases: [&[&str]; 5] = [
        &["bundle", "inspect", "builtin:serverless-baseline"],
        &[
            "bundle",
            "inspect",
            "builtin:serverless-baseline",
            "--format",
            "json",
        ],
        &["bundle", "validate", "builtin:serverless-baseline"],
        &["check", template.to_str().unwrap(), "--now", NOW],
        &["test", tests.to_str().unwrap()],
    ];
    for args in cases {
        // The read end is closed before the child starts: every write it
        // makes fails, however fast it is (no race with the test).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .current_dir(tmp.path())
            .env("PALISADE_CACHE_DIR", tmp.path().join(".cache"))
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
    }
}
