//! Bundle archives: reproducible, loaded with the directory's digest and
//! decisions, and refused when crafted (issue 12).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{TempBundle, copy_dir, request};
use palisade_engine::{Engine, Now, archive};
use std::io::{Read as _, Write as _};

/// The tar inside an archive, and an archive around a tar.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// A tar of raw entries: (path as written in the header, kind, bytes).
fn raw_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, kind, bytes) in entries {
        let mut h = tar::Header::new_gnu();
        // Written byte for byte: the tar crate refuses `..` and absolute
        // paths through `set_path`, an attacker's tool does not.
        let name = &mut h.as_gnu_mut().unwrap().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
            h.set_size(0);
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if *kind != tar::EntryType::Symlink {
            out.extend_from_slice(bytes);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn manifest_for(files: &[(&str, &[u8])]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = files
        .iter()
        .map(|(p, b)| {
            serde_json::json!({"path": p, "size": b.len(), "sha256": palisade_engine::sha256_hex(b)})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"format": "palisade-bundle/1", "files": list})).unwrap()
}

#[test]
fn the_same_directory_gives_the_same_bytes_anywhere() {
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], "");
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("deeper/bundle");
    copy_dir(b.path(), &copy);
    // Other times, other modes, a hidden file: none of it is in the archive.
    let f = std::fs::File::options()
        .write(true)
        .open(copy.join("palisade.toml"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30))
        .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        copy.join("secrets.wasm"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir_all(copy.join(".git")).unwrap();
    std::fs::write(copy.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();

    let first = archive::build(b.path()).unwrap();
    let second = archive::build(&copy).unwrap();
    assert_eq!(first, second, "same files, same bytes");
    assert_eq!(first, archive::build(b.path()).unwrap(), "and again");
    assert!(!String::from_utf8_lossy(&gunzip(&first)).contains(".git/HEAD"));

    // Loaded from the archive: the directory's digest and decisions.
    let engine = Engine::new().unwrap();
    let from_dir = b.load(&engine).unwrap();
    let from_archive = engine
        .load_bundle_from(&archive::read("t.bundle", &first).unwrap())
        .unwrap();
    assert_eq!(from_archive.digest(), from_dir.digest());
    assert_eq!(
        from_archive
            .authorize(&request(), Now::epoch())
            .unwrap()
            .to_json(),
        from_dir
            .authorize(&request(), Now::epoch())
            .unwrap()
            .to_json()
    );
}

#[test]
fn a_modified_archive_is_refused() {
    let b = TempBundle::new(&[], "");
    let good = archive::build(b.path()).unwrap();
    assert!(archive::read("t", &good).is_ok());

    // A policy changed after the build: its sha256 no longer matches.
    let tar = gunzip(&good);
    let text = String::from_utf8_lossy(&tar).into_owned();
    assert!(text.contains("permit(principal, action, resource)"));
    let tampered = text.replace(
        "permit(principal, action, resource)",
        "permit(principal, action, resourcE)",
    );
    let err = archive::read("t", &gzip(tampered.as_bytes())).unwrap_err();
    assert!(
        err.contains("does not match the archive's manifest") && err.contains("was modified"),
        "{err}"
    );

    // Cut short.
    let err = archive::read("t", &good[..good.len() / 2]).unwrap_err();
    assert!(
        err.contains("not a readable archive") || err.contains("cannot read"),
        "{err}"
    );
    // Not gzip at all.
    let err = archive::read("t", b"[bundle]\nname = \"x\"\n").unwrap_err();
    assert!(err.contains("not a bundle archive"), "{err}");
}

#[test]
fn crafted_entries_are_refused_before_the_loader_sees_them() {
    let policy: &[u8] = b"permit(principal, action, resource);";
    let manifest_toml: &[u8] = b"[bundle]\nname = \"x\"\nversion = \"1\"\n";
    let listed = manifest_for(&[
        ("palisade.toml", manifest_toml),
        ("policies/p.cedar", policy),
    ]);
    let regular = tar::EntryType::Regular;
    let ok = raw_tar(&[
        (".palisade-bundle.json", regular, &listed),
        ("palisade.toml", regular, manifest_toml),
        ("policies/p.cedar", regular, policy),
    ]);
    assert!(
        archive::read("t", &gzip(&ok)).is_ok(),
        "the hand-made archive itself is fine"
    );

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a path that climbs out",
            raw_tar(&[
                (".palisade-bundle.json", regular, &listed),
                ("../palisade.toml", regular, manifest_toml),
            ]),
            "absolute or leaves the bundle",
        ),
        (
            "an absolute path",
            raw_tar(&[
                (".palisade-bundle.json", regular, &listed),
                ("/etc/palisade.toml", regular, manifest_toml),
            ]),
            "absolute or leaves the bundle",
        ),
        (
            "a symlink",
            raw_tar(&[
                (".palisade-bundle.json", regular, &listed),
                ("palisade.toml", tar::EntryType::Symlink, b""),
            ]),
            "not a regular file",
        ),
        (
            "a file twice",
            raw_tar(&[
                (".palisade-bundle.json", regular, &listed),
                ("palisade.toml", regular, manifest_toml),
                ("palisade.toml", regular, manifest_toml),
            ]),
            "in the archive twice",
        ),
        (
            "a file the manifest does not list",
            raw_tar(&[
                (".palisade-bundle.json", regular, &listed),
                ("palisade.toml", regular, manifest_toml),
                ("policies/p.cedar", regular, policy),
                (
                    "policies/extra.cedar",
                    regular,
                    b"forbid(principal, action, resource);",
                ),
            ]),
            "holds 3 files and its manifest lists 2",
        ),
        (
            "no manifest first",
            raw_tar(&[("palisade.toml", regular, manifest_toml)]),
            "does not start with `.palisade-bundle.json`",
        ),
    ];
    for (what, tar, expected) in cases {
        let err = archive::read("t", &gzip(&tar)).unwrap_err();
        assert!(err.contains(expected), "{what}: {err}");
    }
}

#[test]
fn an_archive_that_unpacks_past_the_limit_is_refused_without_unpacking_it() {
    // A header that claims 1 GiB: refused on the header, not after
    // reading (the data is not even there).
    let mut h = tar::Header::new_gnu();
    h.set_path("big.wasm").unwrap();
    h.set_size(1 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let listed = manifest_for(&[]);
    let mut tar = raw_tar(&[(".palisade-bundle.json", tar::EntryType::Regular, &listed)]);
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(h.as_bytes());
    tar.resize(tar.len() + 4096, 0);
    let err = archive::read("t", &gzip(&tar)).unwrap_err();
    assert!(err.contains("unpacks to more than 512 MiB"), "{err}");

    // A GNU long name that claims 100 MiB: refused on its header (the
    // tar library would read it whole).
    let mut long = tar::Header::new_gnu();
    long.set_entry_type(tar::EntryType::GNULongName);
    long.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    long.set_size(100 << 20);
    long.set_cksum();
    let mut tar = raw_tar(&[(".palisade-bundle.json", tar::EntryType::Regular, &listed)]);
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(long.as_bytes());
    tar.resize(tar.len() + 4096, 0);
    let started = std::time::Instant::now();
    let err = archive::read("t", &gzip(&tar)).unwrap_err();
    assert!(err.contains("long name that is too long"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused, not read"
    );
}

#[test]
fn bytes_outside_the_bundle_are_refused() {
    let b = TempBundle::new(&[], "");
    let good = archive::build(b.path()).unwrap();
    // After the gzip stream; a second gzip member (with a policy in it).
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"garbage");
    let err = archive::read("t", &trailing).unwrap_err();
    assert!(err.contains("bytes after its compressed stream"), "{err}");
    let extra = raw_tar(&[(
        "policies/zz.cedar",
        tar::EntryType::Regular,
        b"forbid(principal, action, resource);",
    )]);
    let mut two = good.clone();
    two.extend_from_slice(&gzip(&extra));
    assert!(archive::read("t", &two).is_err());
    // Data after the tar's end blocks.
    let mut tar = gunzip(&good);
    tar.extend_from_slice(b"hidden after the end");
    let err = archive::read("t", &gzip(&tar)).unwrap_err();
    assert!(err.contains("data after its end"), "{err}");
    // A damaged gzip trailer (CRC).
    let mut crc = good.clone();
    let at = crc.len() - 6;
    crc[at] ^= 0xff;
    assert!(archive::read("t", &crc).is_err());
}

/// Hidden files are not part of a bundle, in a directory or an archive, so
/// the two cannot differ: a hidden policy is not loaded from a directory,
/// and an archive that carries one is refused.
#[test]
fn hidden_files_are_not_part_of_a_bundle() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[], "");
    std::fs::write(
        b.path().join("policies/.draft.cedar"),
        "@id(\"draft\") forbid(principal, action, resource);\n",
    )
    .unwrap();
    let from_dir = b.load(&engine).unwrap();
    assert_eq!(
        from_dir.policies().count(),
        1,
        "the hidden policy is not loaded"
    );
    let from_archive = engine
        .load_bundle_from(&archive::read("t", &archive::build(b.path()).unwrap()).unwrap())
        .unwrap();
    assert_eq!(from_archive.digest(), from_dir.digest());
    assert!(
        from_dir
            .authorize(&request(), Now::epoch())
            .unwrap()
            .is_allowed()
    );

    let policy: &[u8] = b"forbid(principal, action, resource);";
    let manifest_toml: &[u8] = b"[bundle]\nname = \"x\"\nversion = \"1\"\n";
    let listed = manifest_for(&[
        ("palisade.toml", manifest_toml),
        ("policies/.x.cedar", policy),
    ]);
    let tar = raw_tar(&[
        (".palisade-bundle.json", tar::EntryType::Regular, &listed),
        ("palisade.toml", tar::EntryType::Regular, manifest_toml),
        ("policies/.x.cedar", tar::EntryType::Regular, policy),
    ]);
    let err = archive::read("t", &gzip(&tar)).unwrap_err();
    assert!(err.contains("is hidden"), "{err}");
}
