//! `palisade plugin new NAME --lang rust|python|js`: a plugin project that
//! builds with one command and passes its own tests at once, outside this
//! repository.

use crate::cli::PluginLang;
use crate::exit;
use crate::output;
use std::path::{Path, PathBuf};

/// The SDK's files, copied into each new project (it is not on crates.io).
const SDK_FILES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../guests/sdk/src/lib.rs")),
    (
        "src/document.rs",
        include_str!("../../../guests/sdk/src/document.rs"),
    ),
    (
        "src/glue.rs",
        include_str!("../../../guests/sdk/src/glue.rs"),
    ),
    (
        "src/json.rs",
        include_str!("../../../guests/sdk/src/json.rs"),
    ),
    ("src/log.rs", include_str!("../../../guests/sdk/src/log.rs")),
    (
        "src/model.rs",
        include_str!("../../../guests/sdk/src/model.rs"),
    ),
    (
        "src/settings.rs",
        include_str!("../../../guests/sdk/src/settings.rs"),
    ),
    (
        "wit/policy.wit",
        include_str!("../../../guests/sdk/wit/policy.wit"),
    ),
];

const SDK_MANIFEST: &str = r#"[package]
name = "palisade-plugin-sdk"
description = "Write Palisade policy plugins (WebAssembly components) in plain Rust"
version = "0.2.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61.1", default-features = false, features = ["macros", "realloc"] }
serde_json = { version = "1.0.145", default-features = false, features = ["alloc", "preserve_order"] }
serde = { version = "1.0.228", default-features = false, features = ["alloc", "derive"] }
"#;

const PROJECT_MANIFEST: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# A copy of the SDK written by `palisade plugin new` (not on crates.io yet);
# once it is: palisade-plugin-sdk = "0.2"
palisade-plugin-sdk = { version = "0.2.0", path = "palisade-plugin-sdk" }
serde = { version = "1", features = ["derive"] }

# Every call runs in a fresh instance: speed is paid on every decision,
# size once per bundle load.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"
debug = false

# A workspace of its own, wherever it is created.
[workspace]
"#;

const CARGO_CONFIG: &str =
    "# Plugins are WebAssembly components (WASI 0.2).\n[build]\ntarget = \"wasm32-wasip2\"\n";

/// A plugin name: what bundles, findings and Cedar facts call it.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name == "palisade-plugin-sdk" {
        return Err("`palisade-plugin-sdk` is the SDK's own name: choose another".into());
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a plugin name: use 1 to 64 lowercase letters, digits and `-`, starting with a letter",
            output::escape(name)
        ))
    }
}

/// The SDK source as the project gets it: without the doctest of this
/// repository's guests/README.md, which the copy does not have.
fn sdk_file(path: &str, text: &str) -> String {
    if path != "src/lib.rs" {
        return text.to_owned();
    }
    let start = text.find("/// The examples of `guests/README.md`");
    let end = text.find("pub struct GuestsReadme;\n");
    match (start, end) {
        (Some(s), Some(e)) if s < e => {
            format!(
                "{}{}",
                &text[..s],
                &text[e + "pub struct GuestsReadme;\n".len()..]
            )
        }
        _ => text.to_owned(),
    }
}

/// componentize-py, from PyPI, that Python projects build with.
const COMPONENTIZE_PY: &str = "0.25.1";

/// The files of a new project in `lang`, filled in for `name`.
fn project_files(name: &str, lang: PluginLang) -> Vec<(String, String)> {
    let file = name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{file}}", &file)
            .replace("{{componentize_py}}", COMPONENTIZE_PY)
    };
    let cases = (
        format!("tests/{name}.yaml"),
        fill(include_str!("template/cases.yaml")),
    );
    let wit = (
        "wit/policy.wit".to_owned(),
        include_str!("../../../guests/sdk/wit/policy.wit").to_owned(),
    );
    let readme = |language: &str, tool: &str, install: &str, size: &str| {
        fill(include_str!("template/interpreted-readme.md"))
            .replace("{{language}}", language)
            .replace("{{tool}}", tool)
            .replace("{{install}}", install)
            .replace("{{size}}", size)
    };
    match lang {
        PluginLang::Rust => {
            let mut files: Vec<(String, String)> = vec![
                ("Cargo.toml".into(), fill(PROJECT_MANIFEST)),
                (".cargo/config.toml".into(), CARGO_CONFIG.into()),
                (".gitignore".into(), "/target\n".into()),
                (
                    "README.md".into(),
                    fill(include_str!("template/rust-readme.md")),
                ),
                (
                    "src/lib.rs".into(),
                    fill(include_str!("template/rust-lib.rs")),
                ),
                cases,
                ("palisade-plugin-sdk/Cargo.toml".into(), SDK_MANIFEST.into()),
            ];
            files.extend(
                SDK_FILES
                    .iter()
                    .map(|(p, t)| (format!("palisade-plugin-sdk/{p}"), sdk_file(p, t))),
            );
            files
        }
        PluginLang::Python => vec![
            (
                "app.py".into(),
                fill(include_str!("template/python-app.py")),
            ),
            (
                "build.sh".into(),
                fill(include_str!("template/python-build.sh")),
            ),
            (".gitignore".into(), "/dist\n__pycache__/\n".into()),
            (
                "README.md".into(),
                readme(
                    "Python",
                    &format!("componentize-py {COMPONENTIZE_PY}"),
                    "from PyPI, in a venv under ~/.cache/palisade; needs python3 with venv",
                    "18",
                ),
            ),
            wit,
            cases,
        ],
        PluginLang::Js => vec![
            (
                "src/plugin.js".into(),
                fill(include_str!("template/js-plugin.js")),
            ),
            (
                "build.mjs".into(),
                fill(include_str!("template/js-build.mjs")),
            ),
            (
                "build.sh".into(),
                fill(include_str!("template/js-build.sh")),
            ),
            ("package.json".into(), fill(JS_PACKAGE)),
            (
                "package-lock.json".into(),
                include_str!("../../../guests/js/no-debug/package-lock.json")
                    .replace("\"palisade-no-debug-js\"", &format!("\"{name}\"")),
            ),
            (".gitignore".into(), "/dist\nnode_modules/\n".into()),
            (
                "README.md".into(),
                readme(
                    "JavaScript",
                    "ComponentizeJS 0.23",
                    "from npm, with `npm ci` into node_modules; needs node and npm",
                    "12",
                ),
            ),
            wit,
            cases,
        ],
    }
}

/// The JavaScript project's manifest: the exact versions of the lock file.
const JS_PACKAGE: &str = r#"{
  "name": "{{name}}",
  "version": "0.1.0",
  "private": true,
  "description": "A Palisade policy plugin (a WebAssembly component built with ComponentizeJS)",
  "type": "module",
  "scripts": { "build": "./build.sh" },
  "dependencies": {
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/jco": "1.35.0",
    "@bytecodealliance/preview2-shim": "0.25.0"
  }
}
"#;

pub(super) fn execute(name: &str, lang: PluginLang, dir: Option<&Path>) -> u8 {
    match create(name, lang, dir) {
        Ok(dir) => {
            let shown = output::path(&dir);
            let build = match lang {
                PluginLang::Rust => "rustup target add wasm32-wasip2\n  cargo build --release",
                PluginLang::Python | PluginLang::Js => "./build.sh",
            };
            output::print_or_error(
                &format!(
                    "created plugin `{name}` in {shown}\n\n  cd {shown}\n  {build}\n  palisade plugin test .\n"
                ),
                true,
                exit::OK,
            )
        }
        Err(e) => {
            output::error(&e);
            exit::ERROR
        }
    }
}

fn create(name: &str, lang: PluginLang, dir: Option<&Path>) -> Result<PathBuf, String> {
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "{} exists and is not a directory: give a new directory",
            output::path(&dir)
        ));
    }
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!(
            "{} exists and is not empty: give a new directory",
            output::path(&dir)
        ));
    }
    let files = project_files(name, lang);
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", output::path(parent)))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write {}: {e}", output::path(&path)))?;
        if path.extension().is_some_and(|x| x == "sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {} executable: {e}", output::path(&path)))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_bundles_accept() {
        for ok in ["a", "no-debug", "tag-owner2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "1a",
            "a_b",
            "a b",
            "../x",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sdk_copy_has_no_reference_to_this_repository() {
        let lib = sdk_file("src/lib.rs", SDK_FILES[0].1);
        assert!(!lib.contains("GuestsReadme") && !lib.contains("README.md\")"));
        assert!(lib.contains("pub mod __private"));
    }
}
