//! The command-line surface (see DESIGN.md, "CLI contract").

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Policy-as-code for serverless: Cedar policies and sandboxed WebAssembly
/// checks, the same decision in CI and at request time.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide one authorization request against Cedar policies or a bundle.
    ///
    /// Exit code 0 when allowed, 1 when denied, 2 on bad input.
    Authorize(Box<AuthorizeArgs>),
    /// Check deployment files (CloudFormation/SAM YAML or JSON,
    /// serverless.yml, Terraform plan JSON) against a bundle; any other
    /// file is an error (exit 2), never a pass.
    ///
    /// Exit code 0 when nothing reaches --fail-on, 1 when something does,
    /// 2 when a file or the bundle cannot be read.
    Check(Box<CheckArgs>),
    /// Run a bundle's test cases (its `tests/*.yaml`); exit 1 on any failure
    /// or on a rule without a failing and a passing case.
    Test {
        /// The bundle directory or archive.
        #[arg(default_value = ".")]
        bundle: String,
    },
    /// Inspect or validate a bundle.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Work on one plugin (a WebAssembly component) outside a bundle.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Serve decisions over HTTP: JSON API and forward-auth for gateways
    /// (nginx auth_request, Envoy ext_authz HTTP, Traefik ForwardAuth).
    ///
    /// Reloads the bundle on SIGHUP and when its files change; a bad bundle
    /// is refused and the old one keeps serving. SIGTERM drains in-flight
    /// requests and exits.
    Serve(Box<ServeArgs>),
    /// Sign a test token (JWT) with a local key, for trying a gateway
    /// bundle. Real tokens come from your identity provider.
    Token(Box<TokenArgs>),
    /// What each replica of a fleet serves: reads `/v1/status` of every
    /// `palisade serve` named and shows who runs which bundle, who is
    /// stale (another digest than most replicas), whose last reload
    /// failed, and whose shared rate limits are down. Exits 1 when one is
    /// not in line.
    Fleet(FleetArgs),
    /// Reports made from a bundle's controls table.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// For each practice of the bundle's controls table (least privilege,
    /// MFA, audit logging, ...): the rules that enforce it, the checks of
    /// Checkov, KICS and AWS Control Tower they cover, and, with PATHs,
    /// how many resources pass and fail. Peer checks no rule covers are
    /// listed with the reason.
    ///
    /// Exit code 0 when the report is written, 2 when the bundle has no
    /// controls table, a file cannot be read or a plugin fails.
    Compliance(Box<ComplianceArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown (GitHub-flavoured tables), for pull requests and wikis.
    Markdown,
    /// One self-contained HTML page.
    Html,
    /// Canonical JSON, one object.
    Json,
}

#[derive(Debug, Args)]
pub struct ComplianceArgs {
    /// Deployment files or directories to measure (optional); `-` reads
    /// standard input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A bundle with a controls table (`[bundle] controls`): a directory,
    /// an archive, `oci://REGISTRY/REPO:TAG|@sha256:...` or
    /// `builtin:serverless-baseline` (the default).
    #[arg(
        long,
        value_name = "DIR|FILE|oci://REF|builtin:NAME",
        default_value = "builtin:serverless-baseline"
    )]
    pub bundle: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Evaluation time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// The deployer, e.g. 'Deployer::"ci"'.
    #[arg(long, value_name = "ENTITY", default_value = "Deployer::\"unknown\"")]
    pub principal: String,
    /// The largest file read, as in `check`.
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// A waivers file, as in `check`: waived resources count as waived,
    /// not failed, in each practice (an expired waiver no longer counts).
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Accept only a bundle archive signed by one of these public keys
    /// (repeatable), as in `check`.
    #[arg(long = "verify-key", value_name = "PUB")]
    pub verify_keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The replicas: `host:port` or `http(s)://host:port`.
    #[arg(required = true, value_name = "REPLICA")]
    pub replicas: Vec<String>,
    /// Table, or JSON (the replicas' status documents, each with its
    /// `replica` and `state`).
    #[arg(long, value_enum, default_value_t = FleetFormat::Table)]
    pub format: FleetFormat,
    /// Seconds to wait for each replica.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FleetFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// A PKCS#8 PEM private key: P-256 (signs ES256) or Ed25519 (EdDSA).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The key id (`kid`) the bundle's JWKS knows the key by.
    #[arg(long, default_value = "dev-2026")]
    pub kid: String,
    /// The subject (`sub`).
    #[arg(long)]
    pub sub: String,
    /// More claims as NAME=VALUE; VALUE is read as JSON when it parses
    /// (`groups=["admins"]`, `amr=["pwd","otp"]`), else as a string.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub claims: Vec<String>,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 900)]
    pub ttl: i64,
    /// Issue time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A bundle directory, an archive (`bundle build`), `builtin:NAME`, or
    /// `oci://REGISTRY/REPO:TAG` (followed, see --poll) or `@sha256:...`.
    #[arg(long, value_name = "DIR|FILE|builtin:NAME|oci://REF")]
    pub bundle: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8181")]
    pub listen: String,
    /// Where decision logs go: `-` (standard output), a file (appended), or
    /// `off`.
    #[arg(long, value_name = "FILE|-|off", default_value = "-")]
    pub decision_log: String,
    /// Also ship the decision log to this collector: batches (a
    /// gzip-compressed JSON array per POST, each second or 1,000 lines),
    /// retried with backoff; a decision never waits for them. With
    /// PALISADE_DECISION_LOG_TOKEN set, each POST carries it as a bearer
    /// token.
    #[arg(long, value_name = "URL")]
    pub decision_log_url: Option<String>,
    /// POST this replica's status (the document of GET /v1/status) to
    /// this URL when it changes (a reload, the rate limits' Redis going
    /// down or coming back) and every minute.
    #[arg(long, value_name = "URL")]
    pub status_url: Option<String>,
    /// Decision-log lines held for --decision-log-url while the collector
    /// does not take them; more are dropped (and counted in /metrics).
    #[arg(
        long,
        value_name = "LINES",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000),
        requires = "decision_log_url"
    )]
    pub decision_log_buffer: u64,
    /// Largest request body accepted (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576)]
    pub max_body: usize,
    /// Seconds between checks of the bundle's files for changes (0: only
    /// SIGHUP reloads).
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub watch: u64,
    /// With `--bundle oci://REGISTRY/REPO:TAG`: how often the registry is
    /// asked which release the tag names (one manifest request); a new
    /// one is pulled, verified and swapped in. `30s`, `5m`, or seconds;
    /// 0: never (SIGHUP still reloads).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_poll)]
    pub poll: std::time::Duration,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA of this PEM file (mutual
    /// TLS; needs --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// The gateway protocol /v1/forward-auth trusts: only its headers name
    /// the original request, and other protocols' headers that disagree
    /// are refused (400). Without it, /v1/forward-auth/nginx, /traefik and
    /// /envoy/PATH name the protocol, and the bare /v1/forward-auth
    /// refuses headers of more than one.
    #[arg(long, value_name = "PROTOCOL")]
    pub forward_auth: Option<ForwardAuthProtocol>,
    /// Serve only a bundle archive signed by one of these public keys
    /// (repeatable; a directory means its `*.pub` files): an unsigned
    /// bundle, another key's signature or a
    /// modified archive is refused, and so is a reload to a lower
    /// revision than the one serving.
    #[arg(long = "verify-key", value_name = "PUB")]
    pub verify_keys: Vec<PathBuf>,

    /// Print what plugins log while deciding on standard error, with the
    /// plugin's name (a debugging aid: off by default, as the lines can be
    /// many).
    #[arg(long)]
    pub plugin_logs: bool,

    /// Keep the rate limits' buckets in this Redis, shared by every
    /// replica that names it (`redis://[user:password@]host:port[/db]`,
    /// `rediss://` for TLS; or set PALISADE_RATE_LIMIT_REDIS, which keeps
    /// the password out of the process list). While Redis does not
    /// answer, each replica counts in its own buckets.
    #[arg(
        long,
        value_name = "URL",
        env = "PALISADE_RATE_LIMIT_REDIS",
        hide_env_values = true
    )]
    pub rate_limit_redis: Option<String>,
    /// The longest a decision waits for Redis before it counts in this
    /// replica's buckets (milliseconds).
    #[arg(long, value_name = "MS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub rate_limit_timeout_ms: u64,
}

/// The forward-auth protocols of `serve --forward-auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardAuthProtocol {
    /// nginx auth_request: X-Original-URI, X-Original-Method.
    Nginx,
    /// Traefik ForwardAuth: X-Forwarded-Method, X-Forwarded-Uri, X-Forwarded-Host.
    Traefik,
    /// Envoy ext_authz (HTTP): the original path after /v1/forward-auth.
    Envoy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// Canonical JSON, one object.
    Json,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("policy-source").required(true).args(["bundle", "policies"]))]
#[command(group = clap::ArgGroup::new("request-source").required(true).args(["request_json", "principal"]))]
pub struct AuthorizeArgs {
    /// A bundle directory (with palisade.toml), an archive, or
    /// `oci://REGISTRY/REPO:TAG|@sha256:...`.
    #[arg(long, value_name = "DIR|FILE|oci://REF")]
    pub bundle: Option<String>,
    /// A .cedar file or a directory of them (without a bundle).
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "bundle")]
    pub policies: Option<PathBuf>,
    /// A Cedar schema (.cedarschema or .json) to validate policies and the request.
    #[arg(long, value_name = "FILE", requires = "policies")]
    pub schema: Option<PathBuf>,
    /// Cedar entities JSON.
    #[arg(long, value_name = "FILE", requires = "policies")]
    pub entities: Option<PathBuf>,
    /// The request in the Cedar CLI's JSON format (principal, action,
    /// resource, context, entities); `-` reads standard input.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["principal", "action", "resource", "context"])]
    pub request_json: Option<PathBuf>,
    /// The principal, e.g. 'User::"alice"'.
    #[arg(long, value_name = "ENTITY", requires_all = ["action", "resource"])]
    pub principal: Option<String>,
    /// The action, e.g. 'Action::"view"'.
    #[arg(long, value_name = "ENTITY")]
    pub action: Option<String>,
    /// The resource, e.g. 'Photo::"p1"'.
    #[arg(long, value_name = "ENTITY")]
    pub resource: Option<String>,
    /// The request context: a JSON file holding an object.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Evaluation time (RFC 3339) handed to plugins; default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Accept only a bundle archive signed by one of these public keys
    /// (repeatable; a directory means its `*.pub` files): an unsigned
    /// bundle, another key's signature or a
    /// modified archive is refused.
    #[arg(long = "verify-key", value_name = "PUB", requires = "bundle")]
    pub verify_keys: Vec<PathBuf>,
    /// Print what plugins log on standard error, with the plugin's name
    /// (JSON output also gets them, as `plugin_logs`).
    #[arg(long)]
    pub plugin_logs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// For people: grouped by file and resource, with fixes.
    Human,
    /// Canonical JSON, one object.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML, for CI test reports.
    Junit,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to check; `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A bundle directory, an archive, `oci://REGISTRY/REPO:TAG|@sha256:...`
    /// (the release it resolves to is printed on standard error), or
    /// `builtin:serverless-baseline` (the default).
    #[arg(
        long,
        value_name = "DIR|FILE|oci://REF|builtin:NAME",
        default_value = "builtin:serverless-baseline"
    )]
    pub bundle: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Findings from this severity up fail the run (exit 1); all findings
    /// are reported whatever this says.
    #[arg(long, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: palisade_engine::Severity,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Evaluation time (RFC 3339), e.g. for runtime end-of-support dates;
    /// default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// The deployer, e.g. 'Deployer::"ci"'; policies may allow some teams
    /// more than others.
    #[arg(long, value_name = "ENTITY", default_value = "Deployer::\"unknown\"")]
    pub principal: String,
    /// A waivers file (YAML): accepted findings with rule, optional
    /// resource and file, owner, reason and expires (YYYY-MM-DD). Waived
    /// findings are reported as suppressed and do not fail the run; an
    /// expired waiver (judged by --now) no longer suppresses.
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// The largest file (or standard input) read, in bytes, or with a
    /// suffix: KiB, MiB, GiB (also K, M, G). A larger file is refused (exit
    /// 2) without being read.
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Accept only a bundle archive signed by one of these public keys
    /// (repeatable; a directory means its `*.pub` files): an unsigned
    /// bundle, another key's signature or a
    /// modified archive is refused.
    #[arg(long = "verify-key", value_name = "PUB")]
    pub verify_keys: Vec<PathBuf>,
    /// Print what plugins log on standard error, with the plugin's name
    /// (JSON output also gets them, as `plugin_logs`).
    #[arg(long)]
    pub plugin_logs: bool,
}

/// A size: bytes, or a number with a binary suffix (`32MiB`, `512K`).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let unit: u64 = match suffix.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "k" | "kib" | "KB" => 1 << 10,
        "M" | "MiB" | "m" | "mib" | "MB" => 1 << 20,
        "G" | "GiB" | "g" | "gib" | "GB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use bytes, KiB, MiB or GiB"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (bytes, or a number with KiB, MiB or GiB)"))?;
    match n.checked_mul(unit) {
        Some(0) => Err("the size must be more than 0".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too large")),
    }
}

/// `--poll`: 0 (never), or at least a second: each poll sets up a
/// registry client, so `1ms` would keep a core and the registry busy.
fn parse_poll(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if !d.is_zero() && d < std::time::Duration::from_secs(1) {
        return Err("polls are at least 1s apart (0 turns them off)".into());
    }
    Ok(d)
}

/// A duration: `30s`, `5m`, `1h`, `250ms`, or a number of seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h)"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        other => {
            return Err(format!(
                "unknown duration unit `{other}`; use ms, s, m or h"
            ));
        }
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("`{s}` is too long"))
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Show a bundle's policies, schema, plugins (with digests, metadata and
    /// settings) and limits.
    Inspect {
        /// The bundle directory, archive, or `oci://` reference.
        dir: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Verify the signature against this public key (repeatable; a
        /// directory means its `*.pub` files); without, the signer the
        /// signature names is shown unverified.
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<std::path::PathBuf>,
    },
    /// Load a bundle completely (policies, schema, entities, plugins,
    /// settings) and report every problem; exit 0 when valid, 2 otherwise.
    Validate {
        /// The bundle directory or archive.
        dir: String,
    },
    /// Build a bundle directory into one reproducible archive (tar + gzip,
    /// with a manifest of every file's sha256): the same directory gives
    /// the same bytes on any machine. Every command's --bundle takes it.
    Build {
        /// The bundle directory.
        dir: PathBuf,
        /// The archive to write, e.g. `orders-api-1.2.0.bundle`.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Make an Ed25519 key pair for signing bundles: PREFIX.key (private,
    /// keep it secret) and PREFIX.pub (give it to whoever verifies).
    Keygen {
        /// Where the keys go, without extension, e.g. `keys/release`.
        prefix: PathBuf,
    },
    /// Sign a bundle archive: writes FILE.sig (a DSSE envelope over the
    /// archive's sha256 and the bundle's digest, name, version and revision).
    Sign {
        /// The archive (`bundle build`).
        archive: PathBuf,
        /// The private key (`bundle keygen`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// A number that grows with each release of this bundle: a gateway
        /// refuses to go back to a lower one.
        #[arg(long, value_name = "N")]
        revision: u64,
    },
    /// Push an archive (and its signature, FILE.sig, when there is one) to
    /// an OCI registry as a Palisade bundle artifact; prints the release
    /// digest to pin (`oci://REGISTRY/REPO@sha256:...`).
    Push {
        /// The archive (`bundle build`).
        archive: PathBuf,
        /// Where to: `oci://REGISTRY/REPO:TAG`.
        target: String,
    },
    /// Pull a bundle from an OCI registry into FILE (and its signature into
    /// FILE.sig), every digest checked; with --key, only a bundle signed by
    /// one of these keys is written.
    Pull {
        /// `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:...`.
        source: String,
        /// The archive to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// A trusted public key, or a directory of them (`*.pub`); repeatable.
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
    },
    /// Check an archive's signature (FILE.sig) against trusted public keys;
    /// exit 0 when one of them signed this very archive, 2 otherwise.
    Verify {
        /// The archive.
        archive: PathBuf,
        /// A trusted public key, or a directory of them (`*.pub`); repeatable.
        #[arg(long = "key", value_name = "PUB", required = true)]
        keys: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Push a plugin to an OCI registry as a Wasm artifact in the CNCF
    /// layout (config `application/vnd.wasm.config.v0+json`, one
    /// `application/wasm` layer) that other Wasm tools read; prints the
    /// `source = "oci://...@sha256:..."` line for palisade.toml. Only a
    /// component this host would load is pushed.
    Push {
        /// The `.wasm` component.
        file: PathBuf,
        /// Where to: `oci://REGISTRY/REPO:TAG`.
        target: String,
    },
    /// Pull a Wasm component from an OCI registry (a CNCF Wasm artifact) into
    /// FILE, its digests checked; prints its sha256 for palisade.toml.
    Pull {
        /// `oci://REGISTRY/REPO@sha256:...` (or `:TAG`).
        source: String,
        /// Where to write the component.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Start a plugin project outside this repository: it builds with one
    /// command and passes its own tests (`palisade plugin test .`) at once.
    New {
        /// The plugin's name (lowercase letters, digits, `-`).
        name: String,
        /// The language of the project.
        #[arg(long, value_enum, default_value_t = PluginLang::Rust)]
        lang: PluginLang,
        /// Where to create it (a new or empty directory); default: NAME.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Show what a plugin is: the contract it was built for, its imports
    /// (and whether the sandbox grants each), exports, metadata, size,
    /// sha256, and one measured call on an empty input. Exit 0 when the
    /// host would load it, 2 when it would refuse it.
    Inspect {
        /// The `.wasm` component.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        limits: PluginLimitArgs,
    },
    /// Run a plugin's test cases (YAML) in the real sandbox; exit 1 on a
    /// failing case or on a rule of the plugin without a failing and a
    /// passing case.
    ///
    /// PATH is the `.wasm` file, or a plugin project directory: its one
    /// `.wasm` in `dist/`, `target/wasm32-wasip2/release/` or the
    /// directory itself, and its cases in `tests/`.
    Test {
        /// The `.wasm` component or the plugin's directory.
        path: PathBuf,
        /// A directory of case files (`*.yaml`) or one case file; default:
        /// `tests/` of the plugin's directory.
        #[arg(long, value_name = "DIR|FILE")]
        cases: Option<PathBuf>,
        #[command(flatten)]
        limits: PluginLimitArgs,
    },
}

/// The sandbox of one plugin's calls, as a bundle's `[[plugin]] limits`
/// would set it (default: a bundle's default `[limits]`).
#[derive(Debug, Args)]
pub struct PluginLimitArgs {
    /// Fuel per call (default 1000000000).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Linear memory per call, in MiB (default 64).
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u32>,
    /// Wall-clock backstop per call, in milliseconds (default 2000).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
}

impl PluginLimitArgs {
    /// The limits these flags give, or what is wrong with them.
    pub fn limits(&self) -> Result<palisade_engine::Limits, String> {
        let limits = palisade_engine::Limits::default().with(palisade_engine::PluginLimits {
            fuel: self.fuel,
            memory_mib: self.memory_mib,
            timeout_ms: self.timeout_ms,
        });
        match limits.problem() {
            Some((_, problem)) => Err(problem.replace("`limits.", "`--").replace('_', "-")),
            None => Ok(limits),
        }
    }
}

/// The languages `plugin new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PluginLang {
    /// Rust, with the Palisade plugin SDK (target wasm32-wasip2).
    Rust,
    /// Python, built with componentize-py (from PyPI).
    Python,
    /// JavaScript, built with ComponentizeJS (from npm).
    Js,
}

/// Parses the command line; on `--help`/`--version` or a usage error returns
/// the exit code (2 for errors, as for every bad input).
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(crate::exit::ERROR)
        } else {
            ExitCode::SUCCESS
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn authorize_needs_a_policy_source_and_a_request() {
        assert!(
            Cli::try_parse_from(["palisade", "authorize", "--request-json", "r.json"]).is_err()
        );
        assert!(Cli::try_parse_from(["palisade", "authorize", "--bundle", "b"]).is_err());
        assert!(
            Cli::try_parse_from([
                "palisade",
                "authorize",
                "--bundle",
                "b",
                "--request-json",
                "r.json"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "palisade",
                "authorize",
                "--bundle",
                "b",
                "--principal",
                "U::\"a\""
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "palisade",
                "authorize",
                "--bundle",
                "b",
                "--principal",
                "U::\"a\"",
                "--action",
                "A::\"v\"",
                "--resource",
                "R::\"r\""
            ])
            .is_ok()
        );
    }
}
