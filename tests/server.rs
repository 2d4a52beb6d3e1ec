//! `palisade serve` as a real process: the JSON API, forward-auth as
//! gateways call it, the decision log, metrics, hot reload under load,
//! graceful shutdown, and nginx `auth_request` in front of an application
//! with real signed tokens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../engine/gateway/tests/common/jwt.rs"]
mod jwt;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/server.rs"]
mod server;

use common::{copy_dir, palisade, root, unix_now};
use jwt::Key;
use pki::Pki;
use serde_json::{Value, json};
use server::{Server, http};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A copy of gateway-baseline whose JWKS holds `key`.
fn gateway_bundle(dir: &Path, key: &Key) -> PathBuf {
    let bundle = dir.join("gateway-baseline");
    copy_dir(&root().join("policies/gateway-baseline"), &bundle);
    std::fs::write(bundle.join("jwks.json"), jwt::jwks(&[key])).unwrap();
    bundle
}

fn token(key: &Key, extra: Value) -> String {
    let now = unix_now();
    let mut c = json!({
        "iss": "https://id.example.com", "aud": "orders-api", "sub": "bob", "tenant": "acme",
        "scope": "orders:read orders:write", "iat": now - 30, "exp": now + 600, "jti": format!("t-{now}"),
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    key.sign(&c)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn the_json_api_gives_the_clis_answers() {
    let cache = tempfile::tempdir().unwrap();
    let s = Server::start(
        "builtin:serverless-baseline",
        cache.path(),
        &["--decision-log", "off"],
    );
    assert_eq!(http(&s.addr, "GET", "/health", &[], "").status, 200);
    assert_eq!(http(&s.addr, "GET", "/ready", &[], "").status, 200);
    let b = http(&s.addr, "GET", "/v1/bundle", &[], "").json();
    assert_eq!(b["name"], "serverless-baseline");
    assert!(b["digest"].as_str().unwrap().starts_with("sha256:"));

    // /v1/check gives the bytes of `check --format json`.
    let file = root().join("examples/sam/insecure.yaml");
    let name = file.to_str().unwrap();
    let now = "2026-11-29T00:00:00Z";
    let served = http(
        &s.addr,
        "POST",
        &format!("/v1/check?now={now}&file={name}"),
        &[],
        &std::fs::read_to_string(&file).unwrap(),
    );
    assert_eq!(served.status, 200);
    let cli = palisade(
        &["check", name, "--format", "json", "--now", now],
        cache.path(),
    );
    assert_eq!(served.body, String::from_utf8(cli.stdout).unwrap());
    let bad = http(&s.addr, "POST", "/v1/check", &[], "Resources: [");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("request:2:1: "),
        "{}",
        bad.body
    );

    // /v1/authorize gives the bytes of `authorize --format json`.
    drop(s);
    let authz = root().join("examples/authz");
    let s = Server::start(
        authz.to_str().unwrap(),
        cache.path(),
        &["--decision-log", "off"],
    );
    let requests = authz.join("requests");
    let mut checked = 0;
    for e in std::fs::read_dir(&requests).unwrap() {
        let path = e.unwrap().path();
        let body = std::fs::read_to_string(&path).unwrap();
        let served = http(
            &s.addr,
            "POST",
            &format!("/v1/authorize?now={now}"),
            &[],
            &body,
        );
        assert_eq!(served.status, 200, "{}", served.body);
        let cli = palisade(
            &[
                "authorize",
                "--bundle",
                authz.to_str().unwrap(),
                "--request-json",
                path.to_str().unwrap(),
                "--format",
                "json",
                "--now",
                now,
            ],
            cache.path(),
        );
        assert_eq!(
            served.body,
            String::from_utf8(cli.stdout).unwrap(),
            "{path:?}"
        );
        checked += 1;
    }
    assert!(checked >= 2);
    let bad = http(&s.addr, "POST", "/v1/authorize", &[], "{\"principal\": 5}");
    assert_eq!(bad.status, 400);
    let big = "x".repeat(2 * 1024 * 1024);
    assert_eq!(
        http(&s.addr, "POST", "/v1/authorize", &[], &big).status,
        413
    );
}

#[test]
fn forward_auth_answers_gateways_and_logs_without_secrets() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = Key::es256("k1");
    let bundle = gateway_bundle(dir.path(), &key);
    let log = dir.path().join("decisions.jsonl");
    let s = Server::start(
        bundle.to_str().unwrap(),
        cache.path(),
        &["--decision-log", log.to_str().unwrap()],
    );
    let t = token(&key, json!({}));
    let auth = bearer(&t);
    let nginx = |uri: &str, headers: &[(&str, &str)]| {
        let mut h = vec![("X-Original-URI", uri), ("X-Original-Method", "GET")];
        h.extend_from_slice(headers);
        http(&s.addr, "GET", "/v1/forward-auth", &h, "")
    };

    let ok = nginx("/tenants/acme/orders/1", &[("Authorization", &auth)]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("x-palisade-principal"), Some(r#"User::"bob""#));
    assert!(ok.header("x-palisade-decision-id").is_some());

    let missing = nginx("/tenants/acme/orders/1", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="palisade""#)
    );

    let expired = token(&key, json!({"exp": unix_now() - 3600}));
    let bad = nginx(
        "/tenants/acme/orders/1",
        &[("Authorization", &bearer(&expired))],
    );
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.header("www-authenticate"),
        Some(
            r#"Bearer realm="palisade", error="invalid_token", error_description="the token has expired""#
        )
    );

    let other_tenant = nginx("/tenants/globex/orders/1", &[("Authorization", &auth)]);
    assert_eq!(other_tenant.status, 403);
    assert_eq!(
        other_tenant.header("x-palisade-reason"),
        Some("auth.tenant-isolation")
    );
    assert_eq!(
        nginx("/admin/secrets", &[("Authorization", &auth)]).header("x-palisade-reason"),
        Some("no-route")
    );

    // Traefik ForwardAuth and Envoy ext_authz (HTTP, path prefix) forms.
    let traefik = http(
        &s.addr,
        "GET",
        "/v1/forward-auth",
        &[
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/tenants/acme/orders"),
            ("X-Forwarded-Host", "api.example.com"),
            ("Authorization", &auth),
        ],
        "",
    );
    assert_eq!(traefik.status, 200, "{}", traefik.body);
    let envoy = http(
        &s.addr,
        "DELETE",
        "/v1/forward-auth/envoy/tenants/acme/orders/9",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(
        (envoy.status, envoy.header("x-palisade-reason")),
        (403, Some("auth.admins-only,auth.mfa-for-admin"))
    );

    // Payouts: bursts of 3 per principal, then 429 with Retry-After.
    let payout = |who: &str| {
        let t = token(&key, json!({"sub": who}));
        http(
            &s.addr,
            "POST",
            "/v1/forward-auth",
            &[
                ("X-Original-URI", "/tenants/acme/payouts"),
                ("X-Original-Method", "POST"),
                ("Authorization", &bearer(&t)),
            ],
            "",
        )
    };
    let statuses: Vec<u16> = (0..4).map(|_| payout("carol").status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let limited = payout("carol");
    assert_eq!(limited.header("retry-after"), Some("10"));
    assert_eq!(payout("dave").status, 200, "buckets are per principal");

    // A secret in the query string is a finding of the inspection plugin.
    let leak = nginx(
        "/tenants/acme/orders?password=hunter2hunter2",
        &[("Authorization", &auth)],
    );
    assert_eq!(leak.status, 403);
    assert_eq!(
        leak.header("x-palisade-reason"),
        Some("secrets.secret-named-field")
    );

    // The decision log: one line per decision, never the token or the query.
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 14, "{text}");
    assert!(
        !text.contains(&t) && !text.contains("Bearer") && !text.contains("hunter2"),
        "{text}"
    );
    let first = &lines[0];
    for field in [
        "id",
        "time",
        "bundle",
        "input_digest",
        "principal",
        "action",
        "resource",
        "decision",
        "reasons",
        "findings",
        "latency_us",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert_eq!(first["principal"], r#"User::"bob""#);
    assert_eq!(first["status"], 200);

    let metrics = http(&s.addr, "GET", "/metrics", &[], "").body;
    assert!(
        metrics.contains(r#"palisade_decisions_total{endpoint="forward-auth",outcome="allow"} 6"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"palisade_decisions_total{endpoint="forward-auth",outcome="rate-limited"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_decision_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"palisade_bundle_info{name="gateway-baseline""#),
        "{metrics}"
    );
    // The secrets plugin inspected every request that reached Cedar, and
    // its fuel is counted.
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
    };
    let calls = value(r#"palisade_plugin_calls_total{plugin="secrets"}"#);
    assert!(calls >= 6, "{metrics}");
    assert!(
        value(r#"palisade_plugin_fuel_total{plugin="secrets"}"#) > 1_000 * calls,
        "{metrics}"
    );
}

#[test]
fn reloads_swap_the_bundle_under_load_and_refuse_bad_ones() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = Key::ed25519("k1");
    let bundle = gateway_bundle(dir.path(), &key);
    // No rate limits here: the load below is one principal, as fast as it goes.
    let manifest = bundle.join("palisade.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let cut = text.find("[[gateway.rate_limit]]").unwrap();
    std::fs::write(&manifest, &text[..cut]).unwrap();
    let s = Server::start(
        bundle.to_str().unwrap(),
        cache.path(),
        &["--decision-log", "off", "--watch", "0"],
    );
    let t = token(&key, json!({"sub": "erin"}));
    let auth = bearer(&t);
    let ask = |addr: &str| {
        http(
            addr,
            "GET",
            "/v1/forward-auth",
            &[
                ("X-Original-URI", "/tenants/acme/orders/1"),
                ("Authorization", auth.as_str()),
            ],
            "",
        )
        .status
    };
    assert_eq!(ask(&s.addr), 200);

    // Hammer the server while it reloads 20 times: every answer is a
    // decision (200 before the suspension, 200 or 403 after), never an error.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            let addr = s.addr.clone();
            let auth = auth.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.push(
                        http(
                            &addr,
                            "GET",
                            "/v1/forward-auth",
                            &[
                                ("X-Original-URI", "/tenants/acme/orders/1"),
                                ("Authorization", auth.as_str()),
                            ],
                            "",
                        )
                        .status,
                    );
                }
                seen
            })
        })
        .collect();
    for i in 1..=20 {
        s.signal("HUP");
        assert!(
            s.wait_for_log(&format!("reload {i}\n"), Duration::from_secs(20)),
            "{}",
            s.stderr.lock().unwrap()
        );
    }
    // Suspend the principal: the next reload makes it effective at once.
    let entities = bundle.join("entities.json");
    let text = std::fs::read_to_string(&entities).unwrap().replace(
        r#"{ "uid": { "type": "User", "id": "mallory" }"#,
        r#"{ "uid": { "type": "User", "id": "erin" }, "attrs": {}, "parents": [{ "type": "Group", "id": "suspended" }] },
  { "uid": { "type": "User", "id": "mallory" }"#,
    );
    std::fs::write(&entities, text).unwrap();
    s.signal("HUP");
    assert!(s.wait_for_log("reload 21\n", Duration::from_secs(20)));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        let seen = w.join().unwrap();
        total += seen.len();
        assert!(seen.iter().all(|s| *s == 200 || *s == 403), "{seen:?}");
    }
    assert!(total > 20, "the load ran ({total} requests)");
    assert_eq!(ask(&s.addr), 403);

    // A broken bundle is refused; the last good one keeps serving.
    std::fs::write(bundle.join("policies/broken.cedar"), "forbid (").unwrap();
    s.signal("HUP");
    assert!(s.wait_for_log(
        "refused, still serving the previous bundle",
        Duration::from_secs(20)
    ));
    assert_eq!(ask(&s.addr), 403);
    assert_eq!(
        http(&s.addr, "GET", "/v1/bundle", &[], "").json()["revision"],
        21
    );
    let metrics = http(&s.addr, "GET", "/metrics", &[], "").body;
    assert!(
        metrics.contains(r#"palisade_bundle_reloads_total{result="error"} 1"#),
        "{metrics}"
    );
}

/// How the server exited, waiting up to 15 s.
fn exit_status(s: &mut Server) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_drains_and_exits() {
    let cache = tempfile::tempdir().unwrap();
    let mut s = Server::start(
        "builtin:gateway-baseline",
        cache.path(),
        &["--decision-log", "off"],
    );
    assert_eq!(http(&s.addr, "GET", "/health", &[], "").status, 200);
    s.signal("TERM");
    let status = exit_status(&mut s);
    assert!(status.success(), "{status:?}");
    assert!(
        s.stderr
            .lock()
            .unwrap()
            .contains("draining in-flight requests")
    );

    // Signals that come as soon as the server says it serves are handled
    // too, not left to their default action (terminate).
    for sig in ["HUP", "TERM"] {
        let mut s = Server::start(
            "builtin:gateway-baseline",
            cache.path(),
            &["--decision-log", "off"],
        );
        s.signal(sig);
        if sig == "HUP" {
            std::thread::sleep(Duration::from_millis(300));
            assert!(
                s.child.try_wait().unwrap().is_none(),
                "SIGHUP killed the server"
            );
            continue;
        }
        let status = exit_status(&mut s);
        assert!(status.success(), "{sig} right after start: {status:?}");
    }
}

/// nginx `auth_request` in front of an application, `palisade serve` as the
/// decision point, all on loopback.
#[test]
fn nginx_auth_request_in_front_of_an_app() {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("PALISADE_REQUIRE_NGINX").is_none(),
            "nginx is required (PALISADE_REQUIRE_NGINX) but not installed"
        );
        eprintln!("SKIPPED: nginx is not installed (.ci/run installs it)");
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = Key::es256("idp-1");
    let bundle = gateway_bundle(dir.path(), &key);
    let pal = Server::start(
        bundle.to_str().unwrap(),
        cache.path(),
        &["--decision-log", "off", "--watch", "0"],
    );
    let app = server::upstream();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let conf = root().join("examples/gateway/nginx.conf");
    let conf = std::fs::read_to_string(conf)
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8181", &pal.addr)
        .replace("127.0.0.1:3000", &app);
    let prefix = dir.path().join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = std::process::Command::new(nginx)
        .args([
            "-p",
            prefix.to_str().unwrap(),
            "-c",
            conf_path.to_str().unwrap(),
            "-e",
            "stderr",
        ])
        .args([
            "-g",
            &format!("daemon off; pid {}/nginx.pid;", prefix.display()),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    /// Stops nginx as its master wants (SIGTERM: it stops its workers
    /// too); a SIGKILL would leave the workers running, holding the test
    /// run's output open.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < until {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let gate = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&gate).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("nginx exited ({status}): {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _nginx = Kill(child);

    let t = token(&key, json!({"sub": "frank"}));
    let auth = bearer(&t);
    let get = |path: &str, headers: &[(&str, &str)]| http(&gate, "GET", path, headers, "");

    let ok = get("/tenants/acme/orders/1", &[("Authorization", &auth)]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(
        ok.body, "hello User::\"frank\"\n",
        "the app sees the principal"
    );
    assert_eq!(get("/health", &[]).status, 200, "public route");

    let anonymous = get("/tenants/acme/orders/1", &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some(r#"Bearer realm="palisade""#)
    );
    let forged = format!("{}x", &t[..t.len() - 1]);
    assert_eq!(
        get(
            "/tenants/acme/orders/1",
            &[("Authorization", &bearer(&forged))]
        )
        .status,
        401
    );

    let denied = get("/tenants/globex/orders/1", &[("Authorization", &auth)]);
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.header("x-palisade-reason"),
        Some("auth.tenant-isolation")
    );

    // Headers a client adds to name another request (nginx's own, which
    // nginx replaces, and other gateways', which it clears) change nothing.
    let spoofed = get(
        "/tenants/globex/orders/1",
        &[
            ("Authorization", &auth),
            ("X-Original-URI", "/tenants/acme/orders/1"),
            ("X-Forwarded-Uri", "/health"),
            ("X-Forwarded-Method", "GET"),
            ("X-Envoy-Original-Path", "/health"),
        ],
    );
    assert_eq!(
        (spoofed.status, spoofed.header("x-palisade-reason")),
        (403, Some("auth.tenant-isolation"))
    );
    let dotted = get(
        "/tenants/acme/orders/..%2F..%2Fglobex%2Forders%2F1",
        &[("Authorization", &auth)],
    );
    assert_ne!(dotted.status, 200, "an encoded path is refused: {dotted:?}");

    let payout = || {
        http(
            &gate,
            "POST",
            "/tenants/acme/payouts",
            &[("Authorization", &auth)],
            "",
        )
    };
    let statuses: Vec<u16> = (0..4).map(|_| payout().status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(payout().header("retry-after"), Some("10"));

    // Incident response: suspend the principal, reload, and it is out.
    let entities = bundle.join("entities.json");
    let text = std::fs::read_to_string(&entities).unwrap().replace(
        r#"{ "uid": { "type": "User", "id": "mallory" }"#,
        r#"{ "uid": { "type": "User", "id": "frank" }, "attrs": {}, "parents": [{ "type": "Group", "id": "suspended" }] },
  { "uid": { "type": "User", "id": "mallory" }"#,
    );
    std::fs::write(&entities, text).unwrap();
    pal.signal("HUP");
    assert!(pal.wait_for_log("reload 1\n", Duration::from_secs(20)));
    let suspended = get("/tenants/acme/orders/1", &[("Authorization", &auth)]);
    assert_eq!(suspended.status, 403);
    assert_eq!(
        suspended.header("x-palisade-reason"),
        Some("incident.suspended-principal")
    );
}

/// An HTTPS client that trusts `ca_pem`, optionally with a client
/// certificate.
fn https_client(ca_pem: &str, client: Option<&(String, String)>) -> ureq::Agent {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let root = Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[root]))
        .client_cert(client.map(|(cert, key)| {
            ClientCert::new_with_certs(
                &[Certificate::from_pem(cert.as_bytes()).unwrap()],
                PrivateKey::from_pem(key.as_bytes()).unwrap(),
            )
        }))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

#[test]
fn https_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let server_pki = Pki::new("server CA");
    let (cert, key) = server_pki.issue(false, &["localhost", "127.0.0.1"]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (cert_file, key_file) = (write("server.pem", &cert), write("server-key.pem", &key));

    // HTTPS: a client that trusts the CA gets answers; plain HTTP gets none.
    let tls = [
        "--decision-log",
        "off",
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
    ];
    let s = Server::start("builtin:gateway-baseline", &cache, &tls);
    assert!(s.wait_for_log("on https://", Duration::from_secs(5)));
    let port = s.addr.rsplit(':').next().unwrap();
    let client = https_client(&server_pki.ca_pem, None);
    let mut res = client
        .get(format!("https://localhost:{port}/v1/forward-auth"))
        .header("X-Original-URI", "/health")
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.body_mut().read_to_string().unwrap().contains("allowed"));
    let plain = std::panic::catch_unwind(|| http(&s.addr, "GET", "/health", &[], ""));
    assert!(
        plain.map_or(true, |r| r.status != 200),
        "plain HTTP must not be answered on the TLS port"
    );
    drop(s);

    // Mutual TLS: only clients with a certificate from the given CA.
    let clients = Pki::new("gateways CA");
    let ca_file = write("clients-ca.pem", &clients.ca_pem);
    let mutual = [&tls[..], &["--tls-client-ca", &ca_file]].concat();
    let s = Server::start("builtin:gateway-baseline", &cache, &mutual);
    let port = s.addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/health");
    let good = clients.issue(true, &[]);
    let res = https_client(&server_pki.ca_pem, Some(&good))
        .get(&url)
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    let err = https_client(&server_pki.ca_pem, None)
        .get(&url)
        .call()
        .unwrap_err();
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    let stranger = Pki::new("someone else").issue(true, &[]);
    let err = https_client(&server_pki.ca_pem, Some(&stranger))
        .get(&url)
        .call()
        .unwrap_err();
    assert!(err.to_string().contains("UnknownCA"), "{err}");
    drop(s);

    // Bad files: exit 2 naming the file and what is wrong.
    let not_pem = write("not-pem.txt", "hello");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "serve",
            "--bundle",
            "builtin:gateway-baseline",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--tls-cert", &not_pem, "--tls-key", &key_file])
        .env("PALISADE_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-cert")
            && stderr.contains("not-pem.txt")
            && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "serve",
            "--bundle",
            "builtin:gateway-baseline",
            "--tls-cert",
            &cert_file,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--tls-cert needs --tls-key");
}

/// `serve --plugin-logs` writes what plugins log while deciding to its
/// standard error, with the plugin's name; without the flag it does not.
#[test]
fn serve_writes_plugin_logs_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = common::no_debug_bundle(tmp.path(), &root().join("guests/dist/no-debug.wasm"));
    let template = common::DEBUG_TEMPLATE;
    let line = "palisade: plugin no-debug: debug: 1 functions checked, 1 with a debug flag";
    for (flag, shown) in [(&[][..], false), (&["--plugin-logs"][..], true)] {
        let s = Server::start(bundle.to_str().unwrap(), tmp.path(), flag);
        let r = http(&s.addr, "POST", "/v1/check?file=t.yaml", &[], template);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("no-debug.function-debug-env"), "{}", r.body);
        assert!(!r.body.contains("plugin_logs"), "{}", r.body);
        // Written before the answer goes out; read by this test's own
        // thread, so waited for (a second is plenty for a line that would
        // come, and bounds the wait for one that must not).
        let wait = if shown { 20 } else { 1 };
        let seen = s.wait_for_log(line, Duration::from_secs(wait));
        assert_eq!(seen, shown, "{flag:?}: {}", s.stderr.lock().unwrap());
    }
}

/// `serve --verify-key` serves a signed archive, names its signer, and
/// refuses a reload to an older signed revision (a rollback), keeping the
/// newer bundle; a newer revision is taken.
#[test]
fn a_verified_server_refuses_to_roll_back() {
    let cache = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let out = palisade(args, cache.path());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = root().join("examples/authz");
    run(&[
        "bundle",
        "build",
        dir.to_str().unwrap(),
        "-o",
        &p("a.bundle"),
    ]);
    run(&["bundle", "keygen", &p("rel")]);
    let sign = |revision: &str| {
        run(&[
            "bundle",
            "sign",
            &p("a.bundle"),
            "--key",
            &p("rel.key"),
            "--revision",
            revision,
        ])
    };
    sign("3");
    let log = p("decisions.jsonl");
    let s = Server::start(
        &p("a.bundle"),
        cache.path(),
        &[
            "--decision-log",
            &log,
            "--watch",
            "0",
            "--verify-key",
            &p("rel.pub"),
        ],
    );
    let info = http(&s.addr, "GET", "/v1/bundle", &[], "").json();
    assert_eq!(info["signed_revision"], 3);
    let signer = info["signer"].as_str().unwrap().to_owned();
    assert_eq!(signer.len(), 16);
    // Every decision-log line names the bundle's digest and its signer.
    let request =
        std::fs::read_to_string(root().join("examples/authz/requests/alice-views-her-order.json"))
            .unwrap();
    assert_eq!(
        http(&s.addr, "POST", "/v1/authorize", &[], &request).status,
        200
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break serde_json::from_str::<Value>(l).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no decision-log line");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(line["signer"], signer.as_str());
    assert_eq!(line["bundle"], info["digest"]);

    sign("2");
    s.signal("HUP");
    assert!(s.wait_for_log(
        "signed revision 2 is older than the serving revision 3",
        Duration::from_secs(20)
    ));
    assert_eq!(
        http(&s.addr, "GET", "/v1/bundle", &[], "").json()["signed_revision"],
        3
    );

    sign("4");
    s.signal("HUP");
    assert!(s.wait_for_log("reloaded", Duration::from_secs(20)));
    assert_eq!(
        http(&s.addr, "GET", "/v1/bundle", &[], "").json()["signed_revision"],
        4
    );
}
