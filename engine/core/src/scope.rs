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
