//! Per-request entity stores that do not copy the bundle.
//!
//! A request that brings its own entities (the principal a token describes,
//! or `entities` in an authorization request) used to be decided against a
//! copy of every bundle entity with the new ones added, which costs time in
//! proportion to the bundle: 3.6 ms a request with 10,000 users. Evaluating
//! a request can only look up the entities it reaches: the principal,
//! action and resource, entities in its context, entity literals in the
//! policies' conditions, and, from each of those, the entities their
//! attributes and tags name. `in` needs only the left side's ancestors, which every bundle
//! entity carries (Cedar stores the transitive closure). So the store for
//! a request is its own entities plus the bundle entities reachable from
//! those roots, and it decides exactly as the full copy would.

use cedar_policy::{Entities, Entity, EntityUid, PolicySet, Schema};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Stores of requests that bring their own entities, kept by the exact
/// JSON text of those entities: a gateway that calls `/v1/authorize` sends
/// the same principal entity with each of its requests. Each store holds
/// the entities and what they and the policies reach; a request whose own
/// references (context, principal, action, resource) it holds, or which
/// name no bundle entity, is decided with it as with a store built for it.
///
/// A key whose store was too large to keep is remembered as such (`None`),
/// so that its requests build one store each, not a store to keep and then
/// theirs.
#[derive(Debug, Default)]
pub(crate) struct StoreCache {
    kept: Mutex<HashMap<String, Option<Arc<Entities>>>>,
}

/// Keys remembered before the cache starts again.
const STORES_KEPT: usize = 1_024;
/// The longest entities text kept as a key.
const STORE_KEY_BYTES: usize = 8 * 1024;

/// What the cache knows of some entities.
pub(crate) enum Kept {
    /// Not seen: build their store, and offer it with [`StoreCache::keep`].
    Unknown,
    /// Their store was too large to keep: build the request's own.
    TooLarge,
    Store(Arc<Entities>),
}

impl StoreCache {
    /// The key of these entities, when they are small enough to keep.
    /// Written into a buffer that refuses more than the longest key, so a
    /// large body is not serialized whole to learn that.
    pub(crate) fn key(&self, entities: &serde_json::Value) -> Option<String> {
        let mut buf = Capped(Vec::new());
        serde_json::to_writer(&mut buf, entities).ok()?;
        String::from_utf8(buf.0).ok()
    }

    pub(crate) fn get(&self, key: &str) -> Kept {
        match self.kept.lock().ok().and_then(|k| k.get(key).cloned()) {
            None => Kept::Unknown,
            Some(None) => Kept::TooLarge,
            Some(Some(store)) => Kept::Store(store),
        }
    }

    /// Keeps `store` under `key` when it is small enough (else remembers
    /// that it is not); returns it.
    pub(crate) fn keep(&self, key: String, store: Entities) -> Arc<Entities> {
        let store = Arc::new(store);
        let kept = (store.len() <= crate::bundle::KEPT_STORE_ENTITIES).then(|| Arc::clone(&store));
        if let Ok(mut all) = self.kept.lock() {
            if all.len() >= STORES_KEPT {
                all.clear();
            }
            all.insert(key, kept);
        }
        store
    }
}

/// A buffer that refuses to grow past [`STORE_KEY_BYTES`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > STORE_KEY_BYTES {
            return Err(std::io::Error::other("too long for a key"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// See [`crate::Bundle::store_serves`].
pub(crate) fn serves<'a>(
    bundle: &Entities,
    store: &Entities,
    uids: impl IntoIterator<Item = &'a EntityUid>,
) -> bool {
    uids.into_iter()
        .all(|uid| store.get(uid).is_some() || bundle.get(uid).is_none())
}

/// What the bundle's entities and policies name, computed at load.
#[derive(Debug)]
pub(crate) struct EntityRefs {
    /// Entity literals in the policies (scopes and conditions).
    in_policies: Vec<EntityUid>,
    /// For bundle entities whose attributes or tags name other entities,
    /// those entities.
    in_entities: HashMap<EntityUid, Vec<EntityUid>>,
}

impl EntityRefs {
    pub(crate) fn new(entities: &Entities, policies: &PolicySet) -> EntityRefs {
        let mut in_policies = HashSet::new();
        for p in policies.policies() {
            // Cedar walks the condition (scope included) with a stack of
            // its own, so a policy of any depth is read without recursion
            // (its JSON form, read here before, overflowed the stack at
            // 8,000 conjuncts).
            in_policies.extend(p.entity_literals());
        }
        let mut in_entities = HashMap::new();
        for e in entities.iter() {
            let mut found = HashSet::new();
            if let Ok(json) = e.to_json_value() {
                collect_value_refs(&json, &mut found);
            }
            if !found.is_empty() {
                in_entities.insert(e.uid(), found.into_iter().collect());
            }
        }
        EntityRefs {
            in_policies: in_policies.into_iter().collect(),
            in_entities,
        }
    }

    /// A store of `own` (entities that replace any bundle entity of the
    /// same uid) and the bundle entities a request about `roots` can reach,
    /// with the transitive closure computed over both; Cedar's error when
    /// they do not make a valid store.
    pub(crate) fn store(
        &self,
        bundle: &Entities,
        own: Vec<Entity>,
        roots: impl IntoIterator<Item = EntityUid>,
        schema: Option<&Schema>,
    ) -> Result<Entities, Box<cedar_policy::entities_errors::EntitiesError>> {
        let mut seen: HashSet<EntityUid> = own.iter().map(Entity::uid).collect();
        let mut queue: Vec<EntityUid> = roots.into_iter().collect();
        queue.extend(self.in_policies.iter().cloned());
        for e in &own {
            // Parents carry the ancestors the new entity inherits; the
            // bundle's own references from this uid still apply to the
            // attributes merged into it.
            queue.extend(parents(e));
            queue.extend(
                self.in_entities
                    .get(&e.uid())
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        let mut reached = own;
        while let Some(uid) = queue.pop() {
            if !seen.insert(uid.clone()) {
                continue;
            }
            if let Some(e) = bundle.get(&uid) {
                reached.push(e.clone());
                queue.extend(self.in_entities.get(&uid).into_iter().flatten().cloned());
            }
        }
        Entities::empty()
            .add_entities(reached, schema)
            .map_err(Box::new)
    }
}

/// The parents of an entity.
fn parents(e: &Entity) -> Vec<EntityUid> {
    e.clone().into_inner().2.into_iter().collect()
}

/// The entities that the attributes and tags of an entity in Cedar's JSON
/// format name (its uid and parents are not references to follow).
pub(crate) fn collect_value_refs(entity: &serde_json::Value, out: &mut HashSet<EntityUid>) {
    for key in ["attrs", "tags"] {
        if let Some(v) = entity.get(key) {
            collect_uids(v, out);
        }
    }
}

/// Entity uids anywhere in a JSON value: `{"type": T, "id": I}` objects,
/// which is how policies, entity references (`__entity`) and entity
/// attributes all write them.
pub(crate) fn collect_uids(v: &serde_json::Value, out: &mut HashSet<EntityUid>) {
    match v {
        serde_json::Value::Object(o) => {
            if let (Some(t), Some(id)) = (
                o.get("type").and_then(serde_json::Value::as_str),
                o.get("id").and_then(serde_json::Value::as_str),
            ) && let Ok(type_name) = t.parse()
            {
                out.insert(EntityUid::from_type_name_and_id(
                    type_name,
                    cedar_policy::EntityId::new(id),
                ));
            }
            for v in o.values() {
                collect_uids(v, out);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                collect_uids(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(n: usize) -> Entities {
        let entities = (0..n).map(|i| {
            Entity::new_no_attrs(crate::values::uid("User", &i.to_string()), HashSet::new())
        });
        Entities::from_entities(entities, None).unwrap()
    }

    #[test]
    fn stores_too_large_to_keep_are_remembered_as_such() {
        let cache = StoreCache::default();
        let kept = crate::bundle::KEPT_STORE_ENTITIES;
        cache.keep("small".into(), store(kept));
        cache.keep("large".into(), store(kept + 1));
        assert!(matches!(cache.get("small"), Kept::Store(s) if s.len() == kept));
        assert!(matches!(cache.get("large"), Kept::TooLarge));
        assert!(matches!(cache.get("other"), Kept::Unknown));
    }

    #[test]
    fn only_entities_of_a_short_text_make_a_key() {
        let cache = StoreCache::default();
        let short = serde_json::json!([{"uid": {"type": "User", "id": "bob"}}]);
        assert_eq!(cache.key(&short), Some(short.to_string()));
        let long = serde_json::json!(["x".repeat(STORE_KEY_BYTES)]);
        assert_eq!(cache.key(&long), None);
    }
}
