//! Prometheus metrics of the server (`GET /metrics`).

use super::*;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Outcome {
    pub(super) endpoint: &'static str,
    pub(super) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Endpoint {
    pub(super) endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PluginLabel {
    pub(super) plugin: String,
    pub(super) kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PluginName {
    pub(super) plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReloadLabel {
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BundleLabel {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) digest: String,
}

pub(super) struct Metrics {
    pub(super) registry: Registry,
    pub(super) decisions: Family<Outcome, Counter>,
    pub(super) latency: Family<Endpoint, Histogram>,
    pub(super) plugin_errors: Family<PluginLabel, Counter>,
    pub(super) plugin_calls: Family<PluginName, Counter>,
    pub(super) plugin_fuel: Family<PluginName, Counter>,
    pub(super) reloads: Family<ReloadLabel, Counter>,
    pub(super) revision: Gauge,
    pub(super) info: Family<BundleLabel, Gauge>,
    pub(super) log_dropped: Counter,
    pub(super) limit_fallbacks: Counter,
    pub(super) limit_store_up: Gauge,
    pub(super) shipping: super::ship::ShipCounters,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("palisade");
        let decisions = Family::<Outcome, Counter>::default();
        let latency = Family::<Endpoint, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_005, 2.0, 20))
        });
        let plugin_errors = Family::<PluginLabel, Counter>::default();
        let plugin_calls = Family::<PluginName, Counter>::default();
        let plugin_fuel = Family::<PluginName, Counter>::default();
        let reloads = Family::<ReloadLabel, Counter>::default();
        let revision = Gauge::default();
        let info = Family::<BundleLabel, Gauge>::default();
        registry.register(
            "decisions",
            "Decisions by endpoint and outcome",
            decisions.clone(),
        );
        registry.register(
            "decision_duration_seconds",
            "Time to decide, by endpoint",
            latency.clone(),
        );
        registry.register(
            "plugin_errors",
            "Plugin failures (trap, fuel, memory, deadline, bad output) by plugin and kind",
            plugin_errors.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by plugin",
            plugin_calls.clone(),
        );
        registry.register(
            "plugin_fuel",
            "Fuel (deterministic instruction budget) used by plugin calls, by plugin",
            plugin_fuel.clone(),
        );
        registry.register(
            "bundle_reloads",
            "Bundle reloads by result",
            reloads.clone(),
        );
        registry.register(
            "bundle_revision",
            "Reloads applied since start",
            revision.clone(),
        );
        registry.register("bundle_info", "The bundle serving now", info.clone());
        let log_dropped = Counter::default();
        registry.register(
            "decision_log_dropped",
            "Decision-log lines dropped because the writer was behind",
            log_dropped.clone(),
        );
        let limit_fallbacks = Counter::default();
        registry.register(
            "rate_limit_fallbacks",
            "Rate-limit takes counted in this replica's buckets because Redis did not answer in time (--rate-limit-redis)",
            limit_fallbacks.clone(),
        );
        let limit_store_up = Gauge::default();
        registry.register(
            "rate_limit_store_up",
            "1 when the last call to the rate limits' Redis answered in time, 0 when not, -1 without --rate-limit-redis",
            limit_store_up.clone(),
        );
        let shipping = super::ship::ShipCounters::default();
        registry.register(
            "decision_log_shipped",
            "Decision-log lines the --decision-log-url collector took",
            shipping.sent.clone(),
        );
        registry.register(
            "decision_log_ship_dropped",
            "Decision-log lines not shipped: the queue was full, or a batch failed every try",
            shipping.dropped.clone(),
        );
        registry.register(
            "decision_log_ship_failures",
            "Uploads to the --decision-log-url collector that failed (each retried)",
            shipping.failures.clone(),
        );
        Metrics {
            registry,
            shipping,
            limit_fallbacks,
            limit_store_up,
            decisions,
            latency,
            plugin_errors,
            plugin_calls,
            plugin_fuel,
            reloads,
            revision,
            info,
            log_dropped,
        }
    }

    pub(super) fn record(
        &self,
        endpoint: &'static str,
        outcome: &'static str,
        started: Instant,
        d: Option<&Decision>,
    ) {
        self.decisions
            .get_or_create(&Outcome { endpoint, outcome })
            .inc();
        self.latency
            .get_or_create(&Endpoint { endpoint })
            .observe(started.elapsed().as_secs_f64());
        for (plugin, fuel) in d.map(|d| d.plugin_fuel.as_slice()).unwrap_or_default() {
            let label = PluginName {
                plugin: plugin.clone(),
            };
            self.plugin_calls.get_or_create(&label).inc();
            self.plugin_fuel.get_or_create(&label).inc_by(*fuel);
        }
        for e in d.map(|d| d.errors.as_slice()).unwrap_or_default() {
            if let palisade_engine::Source::Plugin(name) = &e.source {
                self.plugin_errors
                    .get_or_create(&PluginLabel {
                        plugin: name.clone(),
                        kind: e.kind.to_string(),
                    })
                    .inc();
            }
        }
    }
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    match &app.redis {
        Some(redis) => {
            let h = redis.health();
            let m = &app.metrics;
            m.limit_store_up.set(i64::from(h.healthy));
            m.limit_fallbacks
                .inc_by(h.fallbacks.saturating_sub(m.limit_fallbacks.get()));
        }
        None => {
            app.metrics.limit_store_up.set(-1);
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &app.metrics.registry).is_err() {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics");
    }
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}
