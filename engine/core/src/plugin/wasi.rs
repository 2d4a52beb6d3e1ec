//! The WASI a plugin sees: what a guest built with a language's standard
//! library imports even when it does no I/O, with nothing real behind it.
//!
//! | interface                          | what the guest gets                           |
//! |------------------------------------|-----------------------------------------------|
//! | `wasi:cli/environment`             | no variables, no arguments, no directory      |
//! | `wasi:cli/exit`                    | a trap                                        |
//! | `wasi:cli/stdin`                   | a closed stream                               |
//! | `wasi:cli/stdout`                  | a stream that discards                        |
//! | `wasi:cli/stderr`                  | the first [`CAPTURE_BYTES`] kept for errors   |
//! | `wasi:cli/terminal-*`              | no terminal                                   |
//! | `wasi:clocks/wall-clock`           | the evaluation's `now`, stopped               |
//! | `wasi:clocks/monotonic-clock`      | zero, stopped; every timer is already due     |
//! | `wasi:random/*`                    | fixed values                                  |
//! | `wasi:filesystem/preopens`         | no directories                                |
//! | `wasi:filesystem/types`            | a trap (there is no file to call it on)       |
//!
//! Nothing here blocks, sleeps or waits: a guest that polls or sleeps gets
//! an answer at once and keeps spending its fuel. Every handle it makes is
//! counted against [`MAX_HANDLES`], so a guest cannot grow host memory.
//!
//! This is written here rather than taken from `wasmtime-wasi`, whose
//! synchronous host runs on tokio: the engine has no async runtime.

use super::Sandbox;
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable, ResourceType, Val};

#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit-wasi",
        world: "palisade:sandbox/wasi",
        imports: { default: trappable },
        with: {
            "wasi:io/error.error": super::IoError,
            "wasi:io/poll.pollable": super::Pollable,
            "wasi:io/streams.input-stream": super::InputStream,
            "wasi:io/streams.output-stream": super::OutputStream,
            "wasi:cli/terminal-input.terminal-input": super::TerminalInput,
            "wasi:cli/terminal-output.terminal-output": super::TerminalOutput,
        },
    });
}

use bindings::wasi::cli::{
    environment, exit, stderr, stdin, stdout, terminal_input, terminal_output, terminal_stderr,
    terminal_stdin, terminal_stdout,
};
use bindings::wasi::clocks::{monotonic_clock, wall_clock};
use bindings::wasi::io::{error, poll, streams};
use bindings::wasi::random::{insecure, insecure_seed, random};
use streams::StreamError;

/// Every WASI interface a plugin may import (unversioned): the imports of
/// `wit-wasi/world.wit` and the filesystem ones linked per plugin.
pub(super) const INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    FILESYSTEM_TYPES,
    FILESYSTEM_PREOPENS,
];
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types";
const FILESYSTEM_PREOPENS: &str = "wasi:filesystem/preopens";

/// How much of a plugin's standard error the host keeps per call.
pub(super) const CAPTURE_BYTES: usize = 4096;
/// Handles (streams, pollables) a guest may hold at once.
pub(super) const MAX_HANDLES: usize = 1024;
/// The most random bytes one call may ask for.
const MAX_RANDOM_BYTES: u64 = 64 * 1024;
/// What `check-write` allows per write.
const WRITE_PERMIT: u64 = 4096;

// The fixed answers of the random interfaces. They are what wasmtime-wasi's
// `Deterministic` generators seeded with these bytes gave before this host
// replaced it, so plugins see the same values (and decisions stay the same).
const RANDOM_U32: u32 = 0x5a17_c38e;
const INSECURE_U32: u32 = 0x4242_4242;
const INSECURE_SEED: (u64, u64) = (0x5a17_c38e, 0);

/// `wasi:io/error.error`: never made, since no operation here fails with one.
pub enum IoError {}
/// `wasi:io/poll.pollable`: always ready.
pub struct Pollable;
/// `wasi:io/streams.input-stream`: standard input, closed.
pub struct InputStream;
/// `wasi:io/streams.output-stream`: standard output or error.
pub enum OutputStream {
    /// Discarded.
    Stdout,
    /// Kept up to [`CAPTURE_BYTES`].
    Stderr,
}
/// `wasi:cli/terminal-input.terminal-input`: never made.
pub struct TerminalInput;
/// `wasi:cli/terminal-output.terminal-output`: never made.
pub struct TerminalOutput;

/// One call's WASI state.
pub(super) struct Wasi {
    table: ResourceTable,
    handles: usize,
    /// Seconds since the UNIX epoch of the stopped wall clock.
    wall_clock_secs: u64,
    stderr: Vec<u8>,
}

impl Wasi {
    pub(super) fn new(wall_clock_secs: u64) -> Wasi {
        Wasi {
            table: ResourceTable::new(),
            handles: 0,
            wall_clock_secs,
            stderr: Vec::new(),
        }
    }

    /// What the guest wrote to standard error, up to [`CAPTURE_BYTES`].
    pub(super) fn stderr(&self) -> &[u8] {
        &self.stderr
    }

    fn push<T: Send + 'static>(&mut self, value: T) -> wasmtime::Result<Resource<T>> {
        if self.handles >= MAX_HANDLES {
            wasmtime::bail!("the plugin holds more than {MAX_HANDLES} WASI handles");
        }
        let handle = self.table.push(value)?;
        self.handles += 1;
        Ok(handle)
    }

    fn delete<T: 'static>(&mut self, handle: Resource<T>) -> wasmtime::Result<T> {
        let value = self.table.delete(handle)?;
        self.handles = self.handles.saturating_sub(1);
        Ok(value)
    }

    /// Writes `bytes` to `stream`; standard error keeps what fits.
    fn write(
        &mut self,
        stream: &Resource<OutputStream>,
        bytes: impl IntoIterator<Item = u8>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        if let OutputStream::Stderr = self.table.get(stream)? {
            let room = CAPTURE_BYTES.saturating_sub(self.stderr.len());
            self.stderr.extend(bytes.into_iter().take(room));
        }
        Ok(Ok(()))
    }
}

/// Links the interfaces above into `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    bindings::Wasi::add_to_linker::<Sandbox, HasSelf<Wasi>>(linker, |s| &mut s.wasi)
}

/// Links the filesystem interfaces that `component` imports, at the
/// versions it imports them: no preopened directory, and a trap from every
/// other function (they need a descriptor, which the guest cannot get).
pub(super) fn add_filesystem_to_linker(
    linker: &mut Linker<Sandbox>,
    engine: &wasmtime::Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    /// The resources of `wasi:filesystem/types`; no value is ever made.
    struct NoFile;
    let ty = component.component_type();
    for (import, item) in ty.imports(engine) {
        let unversioned = import.split('@').next().unwrap_or(import);
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if unversioned != FILESYSTEM_TYPES && unversioned != FILESYSTEM_PREOPENS {
            continue;
        }
        let mut linked = linker.instance(import)?;
        for (name, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::Resource(_) => {
                    // The resources it uses from `wasi:io` are the ones
                    // linked above; its own have no values.
                    let ty = match name {
                        "input-stream" => ResourceType::host::<InputStream>(),
                        "output-stream" => ResourceType::host::<OutputStream>(),
                        "error" => ResourceType::host::<IoError>(),
                        "pollable" => ResourceType::host::<Pollable>(),
                        _ => ResourceType::host::<NoFile>(),
                    };
                    linked.resource(name, ty, |_, _| Ok(()))?;
                }
                ComponentItem::ComponentFunc(_)
                    if unversioned == FILESYSTEM_PREOPENS && name == "get-directories" =>
                {
                    linked.func_new(name, |_, _, _, results| {
                        if let Some(result) = results.first_mut() {
                            *result = Val::List(Vec::new());
                        }
                        Ok(())
                    })?;
                }
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{import}#{name}");
                    linked.func_new(name, move |_, _, _, _| {
                        wasmtime::bail!("the sandbox has no filesystem: `{what}` was called")
                    })?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl environment::Host for Wasi {
    fn get_environment(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    fn get_arguments(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn initial_cwd(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
}

impl exit::Host for Wasi {
    fn exit(&mut self, status: Result<(), ()>) -> wasmtime::Result<()> {
        let how = if status.is_ok() { "success" } else { "failure" };
        wasmtime::bail!("the plugin called `exit` ({how})")
    }
    fn exit_with_code(&mut self, code: u8) -> wasmtime::Result<()> {
        wasmtime::bail!("the plugin called `exit` (code {code})")
    }
}

impl stdin::Host for Wasi {
    fn get_stdin(&mut self) -> wasmtime::Result<Resource<InputStream>> {
        self.push(InputStream)
    }
}

impl stdout::Host for Wasi {
    fn get_stdout(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        self.push(OutputStream::Stdout)
    }
}

impl stderr::Host for Wasi {
    fn get_stderr(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        self.push(OutputStream::Stderr)
    }
}

impl terminal_input::Host for Wasi {}
impl terminal_input::HostTerminalInput for Wasi {
    fn drop(&mut self, handle: Resource<TerminalInput>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl terminal_output::Host for Wasi {}
impl terminal_output::HostTerminalOutput for Wasi {
    fn drop(&mut self, handle: Resource<TerminalOutput>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl terminal_stdin::Host for Wasi {
    fn get_terminal_stdin(&mut self) -> wasmtime::Result<Option<Resource<TerminalInput>>> {
        Ok(None)
    }
}

impl terminal_stdout::Host for Wasi {
    fn get_terminal_stdout(&mut self) -> wasmtime::Result<Option<Resource<TerminalOutput>>> {
        Ok(None)
    }
}

impl terminal_stderr::Host for Wasi {
    fn get_terminal_stderr(&mut self) -> wasmtime::Result<Option<Resource<TerminalOutput>>> {
        Ok(None)
    }
}

impl error::Host for Wasi {}
impl error::HostError for Wasi {
    fn to_debug_string(&mut self, handle: Resource<IoError>) -> wasmtime::Result<String> {
        match *self.table.get(&handle)? {}
    }
    fn drop(&mut self, handle: Resource<IoError>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl poll::Host for Wasi {
    fn poll(&mut self, pollables: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        if pollables.is_empty() {
            wasmtime::bail!("`poll` was called with no pollables");
        }
        for p in &pollables {
            self.table.get(p)?;
        }
        // Everything is ready at once.
        Ok((0..u32::try_from(pollables.len())?).collect())
    }
}

impl poll::HostPollable for Wasi {
    fn ready(&mut self, handle: Resource<Pollable>) -> wasmtime::Result<bool> {
        self.table.get(&handle)?;
        Ok(true)
    }
    fn block(&mut self, handle: Resource<Pollable>) -> wasmtime::Result<()> {
        self.table.get(&handle)?;
        Ok(())
    }
    fn drop(&mut self, handle: Resource<Pollable>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl streams::Host for Wasi {}

impl streams::HostInputStream for Wasi {
    fn read(
        &mut self,
        handle: Resource<InputStream>,
        _len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, StreamError>> {
        self.table.get(&handle)?;
        Ok(Err(StreamError::Closed))
    }
    fn blocking_read(
        &mut self,
        handle: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, StreamError>> {
        self.read(handle, len)
    }
    fn skip(
        &mut self,
        handle: Resource<InputStream>,
        _len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.table.get(&handle)?;
        Ok(Err(StreamError::Closed))
    }
    fn blocking_skip(
        &mut self,
        handle: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.skip(handle, len)
    }
    fn subscribe(&mut self, handle: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        self.table.get(&handle)?;
        self.push(Pollable)
    }
    fn drop(&mut self, handle: Resource<InputStream>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl streams::HostOutputStream for Wasi {
    fn check_write(
        &mut self,
        handle: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.table.get(&handle)?;
        Ok(Ok(WRITE_PERMIT))
    }
    fn write(
        &mut self,
        handle: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        self.write(&handle, contents)
    }
    fn blocking_write_and_flush(
        &mut self,
        handle: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        self.write(&handle, contents)
    }
    fn flush(
        &mut self,
        handle: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        self.table.get(&handle)?;
        Ok(Ok(()))
    }
    fn blocking_flush(
        &mut self,
        handle: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        self.flush(handle)
    }
    fn subscribe(
        &mut self,
        handle: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        self.table.get(&handle)?;
        self.push(Pollable)
    }
    fn write_zeroes(
        &mut self,
        handle: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.write(&handle, std::iter::repeat_n(0, len))
    }
    fn blocking_write_zeroes_and_flush(
        &mut self,
        handle: Resource<OutputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<(), StreamError>> {
        self.write_zeroes(handle, len)
    }
    fn splice(
        &mut self,
        handle: Resource<OutputStream>,
        src: Resource<InputStream>,
        _len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.table.get(&handle)?;
        self.table.get(&src)?;
        // The only input stream is standard input, which is closed.
        Ok(Err(StreamError::Closed))
    }
    fn blocking_splice(
        &mut self,
        handle: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> wasmtime::Result<Result<u64, StreamError>> {
        self.splice(handle, src, len)
    }
    fn drop(&mut self, handle: Resource<OutputStream>) -> wasmtime::Result<()> {
        self.delete(handle).map(|_| ())
    }
}

impl wall_clock::Host for Wasi {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: self.wall_clock_secs,
            nanoseconds: 0,
        })
    }
    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 1,
            nanoseconds: 0,
        })
    }
}

impl monotonic_clock::Host for Wasi {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(0)
    }
    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1_000_000_000)
    }
    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<Pollable>> {
        self.push(Pollable)
    }
    fn subscribe_duration(&mut self, _when: u64) -> wasmtime::Result<Resource<Pollable>> {
        self.push(Pollable)
    }
}

/// `len` bytes, each the low byte of `word` (how the generator this
/// replaced drew bytes), refusing more than [`MAX_RANDOM_BYTES`].
fn fixed_bytes(len: u64, word: u32) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_RANDOM_BYTES {
        wasmtime::bail!("the plugin asked for {len} random bytes; the limit is {MAX_RANDOM_BYTES}");
    }
    let len = usize::try_from(len)?;
    Ok(vec![word.to_le_bytes()[0]; len])
}

fn fixed_u64(word: u32) -> u64 {
    (u64::from(word) << 32) | u64::from(word)
}

impl random::Host for Wasi {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        fixed_bytes(len, RANDOM_U32)
    }
    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(fixed_u64(RANDOM_U32))
    }
}

impl insecure::Host for Wasi {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        fixed_bytes(len, INSECURE_U32)
    }
    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(fixed_u64(INSECURE_U32))
    }
}

impl insecure_seed::Host for Wasi {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        Ok(INSECURE_SEED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_the_ones_plugins_saw_before() {
        // wasmtime-wasi's `Deterministic::new(vec![0x5a, 0x17, 0xc3, 0x8e])`
        // gave bytes 8e 8e .. and u64 0x5a17c38e5a17c38e.
        assert_eq!(fixed_bytes(3, RANDOM_U32).unwrap(), vec![0x8e; 3]);
        assert_eq!(fixed_u64(RANDOM_U32), 0x5a17_c38e_5a17_c38e);
        assert_eq!(fixed_bytes(2, INSECURE_U32).unwrap(), vec![0x42; 2]);
        assert!(fixed_bytes(MAX_RANDOM_BYTES + 1, RANDOM_U32).is_err());
    }

    #[test]
    fn the_allowed_interfaces_are_the_linked_ones() {
        // What `check_imports` lets through must be what is linked: an
        // interface in one list only is refused or fails to link.
        let world = include_str!("../../wit-wasi/world.wit");
        let mut linked: Vec<&str> = world
            .lines()
            .filter_map(|l| l.trim().strip_prefix("import "))
            .map(|i| i.split('@').next().unwrap_or(i))
            .chain([FILESYSTEM_TYPES, FILESYSTEM_PREOPENS])
            .collect();
        let mut allowed = INTERFACES.to_vec();
        linked.sort_unstable();
        allowed.sort_unstable();
        assert_eq!(linked, allowed);
    }

    #[test]
    fn handles_are_bounded_and_freed() {
        let mut wasi = Wasi::new(0);
        let mut held = Vec::new();
        for _ in 0..MAX_HANDLES {
            held.push(wasi.push(Pollable).unwrap());
        }
        assert!(wasi.push(Pollable).is_err());
        let one = held.pop().unwrap();
        wasi.delete(one).unwrap();
        assert!(wasi.push(Pollable).is_ok());
    }

    #[test]
    fn stderr_keeps_only_the_first_bytes() {
        let mut wasi = Wasi::new(0);
        let err = wasi.push(OutputStream::Stderr).unwrap();
        let out = wasi.push(OutputStream::Stdout).unwrap();
        let line = vec![b'x'; 3000];
        assert!(wasi.write(&out, line.clone()).unwrap().is_ok());
        assert!(wasi.stderr().is_empty());
        assert!(wasi.write(&err, line).unwrap().is_ok());
        assert!(
            wasi.write(&err, std::iter::repeat_n(0, usize::MAX))
                .unwrap()
                .is_ok()
        );
        assert_eq!(wasi.stderr().len(), CAPTURE_BYTES);
        assert_eq!(wasi.stderr()[2999], b'x');
        assert_eq!(wasi.stderr()[3000], 0);
    }
}
