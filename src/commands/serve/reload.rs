//! Swapping the bundle: on SIGHUP, and when its files have changed and
//! then stood still (debounced), never half a bundle.

use super::*;

pub(super) async fn reload_on_sighup(app: Arc<App>, hup: Option<tokio::signal::unix::Signal>) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        reload(&app, "SIGHUP").await;
    }
}

/// Files up to this size are hashed whole by the fingerprint (policies,
/// schemas, manifests); larger ones (plugins) by size and time.
pub(super) const FINGERPRINT_CONTENT_BYTES: u64 = 1 << 20;

/// A fingerprint of a bundle: every file's path, size and modification
/// time, and the content of the small ones (a rewrite of the same size
/// within one clock tick changes no time). The walk is the bundle loader's
/// own: symlinks are followed only inside the bundle and each directory
/// once (no loops), and FIFOs or devices are never opened. A bundle archive
/// counts as two files, itself and its signature (a new signature alone is
/// a new release), by the same rule: a large archive is not read at every
/// poll.
pub(super) fn fingerprint(bundle: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::io::Read as _;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let files: Vec<(std::path::PathBuf, palisade_engine::WalkEntry)> =
        if std::fs::metadata(bundle).is_ok_and(|m| m.is_file()) {
            [bundle.to_path_buf(), crate::signing::signature_path(bundle)]
                .into_iter()
                .filter_map(|p| {
                    let m = std::fs::metadata(&p).ok()?;
                    let entry = palisade_engine::WalkEntry {
                        path: p.display().to_string(),
                        len: m.len(),
                        modified: m.modified().ok(),
                        is_file: m.is_file(),
                    };
                    Some((p, entry))
                })
                .collect()
        } else {
            match palisade_engine::walk_bundle_dir(bundle, "") {
                Ok(entries) => entries
                    .into_iter()
                    .map(|e| (bundle.join(&e.path), e))
                    .collect(),
                Err(e) => {
                    e.hash(&mut h);
                    Vec::new()
                }
            }
        };
    for (path, e) in files {
        e.path.hash(&mut h);
        e.len.hash(&mut h);
        e.modified.hash(&mut h);
        e.is_file.hash(&mut h);
        if e.is_file && e.len <= FINGERPRINT_CONTENT_BYTES {
            let mut bytes = Vec::new();
            let read = std::fs::File::open(&path)
                .and_then(|f| f.take(FINGERPRINT_CONTENT_BYTES).read_to_end(&mut bytes));
            if read.is_ok() {
                bytes.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// How many polls in a row must see the same fingerprint after a change
/// before the bundle is loaded: files being written (a policy file written
/// in two halves, a copy in progress) are not loaded half done.
pub(super) const STABLE_POLLS: u32 = 2;

/// Decides, poll after poll, when the bundle's files have changed and then
/// stayed unchanged long enough to load.
#[derive(Debug)]
pub(super) struct Debounce {
    /// The fingerprint of the bundle that serves.
    pub(super) serving: u64,
    /// A changed fingerprint, and how many polls in a row have seen it.
    pub(super) pending: Option<(u64, u32)>,
}

impl Debounce {
    pub(super) fn new(serving: u64) -> Debounce {
        Debounce {
            serving,
            pending: None,
        }
    }

    /// Takes one poll's fingerprint; says when it is time to load.
    pub(super) fn observe(&mut self, now: u64) -> bool {
        match self.pending {
            // Unchanged, or changed back to what serves.
            _ if now == self.serving => {
                self.pending = None;
                false
            }
            Some((fp, seen)) if fp == now => {
                let seen = seen + 1;
                self.pending = Some((fp, seen));
                seen > STABLE_POLLS
            }
            _ => {
                // A new change (or a change on top of a change): start over.
                self.pending = Some((now, 1));
                false
            }
        }
    }

    /// The bundle with fingerprint `fp` now serves (or was refused: either
    /// way, the same files are not loaded again until they change).
    pub(super) fn settled(&mut self, fp: u64) {
        self.serving = fp;
        self.pending = None;
    }
}

pub(super) async fn watch(app: Arc<App>, every: Duration) {
    let dir = std::path::PathBuf::from(&app.spec);
    let poll = |dir: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .ok()
    };
    let Some(first) = poll(dir.clone()).await else {
        return;
    };
    let mut debounce = Debounce::new(first);
    loop {
        tokio::time::sleep(every).await;
        let Some(now) = poll(dir.clone()).await else {
            continue;
        };
        if !debounce.observe(now) {
            continue;
        }
        // Load, then check the files did not change while loading: only a
        // bundle whose files stood still from before the load to after it
        // is swapped in.
        let stable = {
            let dir = dir.clone();
            move || fingerprint(&dir) == now
        };
        if reload_if(&app, "the bundle's files changed", stable).await != Outcome::Unsettled {
            debounce.settled(now);
        }
    }
}

/// Follows an `oci://` tag: every `every`, one manifest request asks
/// which release the tag names; a new one is pulled, verified, loaded and
/// swapped in (or refused, and then tried again only every
/// [`RETRY_REFUSED`] polls, in case what it lacked, say a signature pushed
/// after the bundle by another tool, arrives). A registry that cannot be reached changes nothing: the
/// running bundle keeps serving, and the failure is logged and counted.
pub(super) async fn follow_tag(app: Arc<App>, every: Duration) {
    // The release last refused, and how many polls ago.
    let mut refused: Option<(String, u32)> = None;
    // Polls that failed in a row: the first is logged, then every
    // [`LOG_EVERY`]th, so a registry down for a day does not flood the log.
    let mut failing: u32 = 0;
    loop {
        tokio::time::sleep(every).await;
        let spec = app.spec.clone();
        let resolved = tokio::task::spawn_blocking(move || crate::oci::resolve(&spec)).await;
        let digest = match resolved {
            Ok(Ok(d)) => {
                if failing > 0 {
                    eprintln!(
                        "palisade: poll of `{}` works again (after {failing} failed)",
                        output::escape(&app.spec)
                    );
                }
                failing = 0;
                d
            }
            Ok(Err(e)) => {
                if failing.is_multiple_of(LOG_EVERY) {
                    output::error(&format!(
                        "poll of `{}` failed{}, still serving the previous bundle: {e}",
                        output::escape(&app.spec),
                        if failing > 0 {
                            format!(" ({} times in a row)", failing + 1)
                        } else {
                            String::new()
                        }
                    ));
                }
                failing = failing.saturating_add(1);
                app.metrics
                    .reloads
                    .get_or_create(&ReloadLabel {
                        result: "poll_error",
                    })
                    .inc();
                continue;
            }
            Err(_) => continue,
        };
        let serving = app
            .current
            .load()
            .release
            .as_ref()
            .map(|r| r.digest.clone());
        if serving.as_deref() == Some(digest.as_str()) {
            continue;
        }
        if let Some((d, polls)) = &mut refused
            && *d == digest
        {
            *polls += 1;
            if *polls < RETRY_REFUSED {
                continue;
            }
        }
        // A refused release is not tried again until the tag moves; one
        // that could not be fetched is, at the next poll.
        refused = match reload_if(&app, "the tag names a new release", || true).await {
            Outcome::Refused => Some((digest, 0)),
            // The manifest pulled is the release serving, though the
            // manifest request named another: the registry's answers
            // disagree. Nothing changes; said, and counted as a poll error.
            Outcome::Unchanged => {
                output::warning(&format!(
                    "poll of `{}`: the registry's manifest request names {}, but the manifest it serves is the release already serving; nothing changed",
                    output::escape(&app.spec),
                    output::escape(&digest)
                ));
                app.metrics
                    .reloads
                    .get_or_create(&ReloadLabel {
                        result: "poll_error",
                    })
                    .inc();
                None
            }
            _ => None,
        };
    }
}

/// A refused release is tried again after this many polls.
pub(super) const RETRY_REFUSED: u32 = 10;
/// A poll that keeps failing is logged once every this many polls.
const LOG_EVERY: u32 = 30;

/// Loads the bundle again and swaps it in; on failure logs why and keeps
/// the old one.
pub(super) async fn reload(app: &Arc<App>, why: &str) {
    reload_if(app, why, || true).await;
}

/// What became of a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The files changed under the load: nothing was swapped or refused,
    /// and the caller waits for them to settle again.
    Unsettled,
    /// The new bundle serves.
    Swapped,
    /// What was loaded is the release already serving, with the same
    /// signature: nothing to swap.
    Unchanged,
    /// The new bundle was refused (and will be again until it changes).
    Refused,
    /// The registry could not be reached: worth trying again.
    Unreachable,
}

/// Loads the bundle again and swaps it in if `still_stable()` holds after
/// the load (the files did not change during it).
pub(super) async fn reload_if(
    app: &Arc<App>,
    why: &str,
    still_stable: impl FnOnce() -> bool + Send + 'static,
) -> Outcome {
    let _one_at_a_time = app.reloading.lock().await;
    let worker = Arc::clone(app);
    let result = tokio::task::spawn_blocking(move || {
        let serving = worker.current.load().signed.clone();
        let loaded = source::load_verified(&worker.engine, &worker.spec, &worker.verify_keys)
            .and_then(|l| match (&l.signed, &serving) {
                (Some(new), Some(now)) => match follows(&now.statement, &new.statement) {
                    Ok(()) => Ok(l),
                    Err(why) => Err(source::LoadError::Usage(why)),
                },
                _ => Ok(l),
            });
        if !still_stable() {
            return None;
        }
        Some(loaded.inspect(|l| warm_up(&l.bundle)))
    })
    .await;
    let result = match result {
        Ok(None) => return Outcome::Unsettled,
        Ok(Some(r)) => Ok(r),
        Err(e) => Err(e),
    };
    match result {
        Ok(Ok(l)) if same_release(&app.current.load(), &l) => Outcome::Unchanged,
        Ok(Ok(l)) => {
            let revision = app.current.load().revision + 1;
            eprintln!(
                "palisade: reloaded ({why}): bundle `{}` {} ({}{}), reload {revision}",
                l.bundle.name(),
                l.bundle.version(),
                l.bundle.digest(),
                l.release
                    .as_ref()
                    .map(|r| format!(", release {}", r.pinned))
                    .unwrap_or_default()
            );
            app.set_bundle_metrics(&l.bundle, revision);
            app.current.store(Arc::new(loaded(l, revision)));
            app.reloaded(why, None);
            app.metrics
                .reloads
                .get_or_create(&ReloadLabel { result: "ok" })
                .inc();
            Outcome::Swapped
        }
        Ok(Err(e)) => {
            let outcome = match e {
                source::LoadError::Unreachable(_) => Outcome::Unreachable,
                _ => Outcome::Refused,
            };
            let message = match e {
                source::LoadError::Usage(m) | source::LoadError::Unreachable(m) => m,
                source::LoadError::Bundle(b) => b
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            output::error(&format!(
                "reload ({why}) refused, still serving the previous bundle: {message}"
            ));
            app.reloaded(why, Some(message));
            app.metrics
                .reloads
                .get_or_create(&ReloadLabel { result: "error" })
                .inc();
            outcome
        }
        Err(e) => {
            output::error(&format!("reload ({why}) failed: {e}"));
            Outcome::Refused
        }
    }
}

/// Whether `new` is the registry release serving now, with the same
/// signed statement (a directory or archive has no release: never).
fn same_release(serving: &super::Loaded, new: &source::Loaded) -> bool {
    let (Some(now), Some(next)) = (&serving.release, &new.release) else {
        return false;
    };
    now.digest == next.digest
        && serving.signed.as_ref().map(|v| &v.statement)
            == new.signed.as_ref().map(|v| &v.statement)
}

/// Whether a signed release may replace the one serving: the same bundle
/// (a key may sign several), and a later revision, or the same revision of
/// the very same archive. Never back, never sideways.
fn follows(now: &crate::signing::Statement, new: &crate::signing::Statement) -> Result<(), String> {
    if new.name != now.name {
        return Err(format!(
            "the new bundle is `{}`, not `{}`: a server follows one bundle",
            new.name.escape_debug(),
            now.name.escape_debug()
        ));
    }
    if new.revision < now.revision {
        return Err(format!(
            "the new bundle's signed revision {} is older than the serving revision {}",
            new.revision, now.revision
        ));
    }
    if new.revision == now.revision && new.archive_sha256 != now.archive_sha256 {
        return Err(format!(
            "revision {} already serves another archive: sign a new release with a higher revision",
            new.revision
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// An archive's fingerprint follows the archive and its signature,
    /// each on its own.
    #[test]
    fn an_archive_fingerprint_follows_the_archive_and_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("b.bundle");
        std::fs::write(&archive, b"one").unwrap();
        let first = super::fingerprint(&archive);
        assert_eq!(super::fingerprint(&archive), first, "stable");
        std::fs::write(crate::signing::signature_path(&archive), b"{}").unwrap();
        let signed = super::fingerprint(&archive);
        assert_ne!(signed, first, "a new signature alone");
        std::fs::write(&archive, b"two").unwrap();
        assert_ne!(
            super::fingerprint(&archive),
            signed,
            "new bytes of the same size"
        );
    }

    use super::follows;
    use crate::signing::Statement;

    #[test]
    fn a_signed_release_goes_forward_on_its_own_bundle_only() {
        let release = |name: &str, revision: u64, archive: &str| Statement {
            archive_sha256: archive.into(),
            digest: "sha256:d".into(),
            name: name.into(),
            version: "1".into(),
            revision,
        };
        let now = release("orders", 6, "a");
        for (new, ok) in [
            (release("orders", 7, "b"), true),
            (release("orders", 6, "a"), true), // the same archive again
            (release("orders", 6, "b"), false), // sideways at one revision
            (release("orders", 5, "c"), false), // back
            (release("payments", 100, "p"), false), // another bundle, same key
        ] {
            assert_eq!(follows(&now, &new).is_ok(), ok, "{new:?}");
        }
    }

    use super::*;

    #[test]
    fn a_change_loads_only_once_it_has_stood_still() {
        let mut d = Debounce::new(1);
        assert!(!d.observe(1), "nothing changed");
        // A file is written in two halves, one poll apart.
        assert!(!d.observe(2), "first half: just seen");
        assert!(!d.observe(2), "first half: seen twice");
        assert!(!d.observe(3), "second half: starts over");
        assert!(!d.observe(3));
        assert!(d.observe(3), "stood still for two polls after the change");
        d.settled(3);
        assert!(!d.observe(3), "loaded: nothing to do");
    }

    #[test]
    fn a_change_undone_before_it_settles_is_forgotten() {
        let mut d = Debounce::new(1);
        assert!(!d.observe(2));
        assert!(!d.observe(1));
        assert!(!d.observe(1));
        assert!(!d.observe(1));
        assert!(d.pending.is_none());
    }

    #[test]
    fn the_fingerprint_survives_symlink_loops_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/a.cedar"),
            "permit(principal, action, resource);",
        )
        .unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("policies/up")).unwrap();
        std::os::unix::fs::symlink("loop2", dir.path().join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", dir.path().join("loop2")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.path().join("policies/pipe.cedar"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(fingerprint(&path));
        });
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the fingerprint walk must end");
        assert_eq!(first, fingerprint(dir.path()), "stable");
        std::fs::write(
            dir.path().join("policies/a.cedar"),
            "forbid(principal, action, resource);",
        )
        .unwrap();
        assert_ne!(first, fingerprint(dir.path()), "sees a change");
    }
}
