//! The entity items and entities a session keeps, within the session's
//! limits: what does not fit is refused and counted for one warning.

use super::limits::{MAX_ENTITIES, MAX_ID_BYTES, MAX_ITEMS, MAX_ITEMS_PER_ENTITY, MAX_ITEM_BYTES};
use super::sessions::SessionMemory;
use crate::protocol::ai::inworld::packets::entities::EntityItem;
use prost::Message;

/// What an operation could not do, for a warning.
#[derive(Debug, Default)]
pub(crate) struct ItemsRefused {
    count: usize,
    first: Option<String>,
}

impl ItemsRefused {
    fn refuse(&mut self, why: String) {
        self.count += 1;
        self.first.get_or_insert(why);
    }

    /// None when everything was done.
    pub fn warning(&self) -> Option<String> {
        let first = self.first.as_ref()?;
        Some(match self.count {
            1 => format!("refused: {first}"),
            n => format!("{n} refused, the first: {first}"),
        })
    }
}

fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

/// Creates or replaces `items`, and adds them to each entity of `add_to`.
pub(crate) fn create_or_update(
    m: &mut SessionMemory,
    items: Vec<EntityItem>,
    add_to: &[String],
    refused: &mut ItemsRefused,
) {
    for item in items {
        if !id_ok(&item.id) {
            refused.refuse(format!("an item id must have 1 to {MAX_ID_BYTES} bytes"));
            continue;
        }
        if item.encoded_len() > MAX_ITEM_BYTES {
            refused.refuse(format!(
                "item {:?} is larger than {MAX_ITEM_BYTES} bytes",
                item.id
            ));
            continue;
        }
        if !m.items.contains_key(&item.id) && m.items.len() >= MAX_ITEMS {
            refused.refuse(format!("a session holds at most {MAX_ITEMS} items"));
            continue;
        }
        for entity in add_to {
            add_to_entity(m, entity, [item.id.clone()], refused);
        }
        m.items.insert(item.id.clone(), item);
    }
}

/// Removes items, from every entity too.
pub(crate) fn remove(m: &mut SessionMemory, ids: &[String]) {
    for id in ids {
        m.items.remove(id);
        for members in m.entities.values_mut() {
            members.remove(id);
        }
    }
}

/// The members of `entity`, created when new; None when refused.
fn entity<'m>(
    m: &'m mut SessionMemory,
    name: &str,
    refused: &mut ItemsRefused,
) -> Option<&'m mut std::collections::BTreeSet<String>> {
    if !id_ok(name) {
        refused.refuse(format!(
            "an entity name must have 1 to {MAX_ID_BYTES} bytes"
        ));
        return None;
    }
    if !m.entities.contains_key(name) && m.entities.len() >= MAX_ENTITIES {
        refused.refuse(format!("a session holds at most {MAX_ENTITIES} entities"));
        return None;
    }
    Some(m.entities.entry(name.to_string()).or_default())
}

pub(crate) fn add_to_entity(
    m: &mut SessionMemory,
    name: &str,
    ids: impl IntoIterator<Item = String>,
    refused: &mut ItemsRefused,
) {
    let Some(members) = entity(m, name, refused) else {
        return;
    };
    for id in ids {
        if !id_ok(&id) {
            refused.refuse(format!("an item id must have 1 to {MAX_ID_BYTES} bytes"));
        } else if !members.contains(&id) && members.len() >= MAX_ITEMS_PER_ENTITY {
            refused.refuse(format!(
                "an entity holds at most {MAX_ITEMS_PER_ENTITY} items"
            ));
        } else {
            members.insert(id);
        }
    }
}

pub(crate) fn remove_from_entity(m: &mut SessionMemory, name: &str, ids: &[String]) {
    if let Some(members) = m.entities.get_mut(name) {
        for id in ids {
            members.remove(id);
        }
    }
}

pub(crate) fn replace_in_entity(
    m: &mut SessionMemory,
    name: &str,
    ids: Vec<String>,
    refused: &mut ItemsRefused,
) {
    if let Some(members) = entity(m, name, refused) {
        members.clear();
        add_to_entity(m, name, ids, refused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> EntityItem {
        EntityItem {
            id: id.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn items_and_entities_are_bounded() {
        let mut m = SessionMemory::default();
        let mut refused = ItemsRefused::default();
        let items: Vec<EntityItem> = (0..MAX_ITEMS + 5).map(|i| item(&format!("i{i}"))).collect();
        create_or_update(&mut m, items, &["bag".to_string()], &mut refused);
        assert_eq!(m.items.len(), MAX_ITEMS);
        assert_eq!(m.entities["bag"].len(), MAX_ITEMS_PER_ENTITY);
        let w = refused.warning().unwrap();
        assert!(w.contains("refused"), "{w}");

        let mut refused = ItemsRefused::default();
        let big = EntityItem {
            description: "x".repeat(MAX_ITEM_BYTES),
            ..item("i0")
        };
        create_or_update(
            &mut m,
            vec![big, item(&"y".repeat(MAX_ID_BYTES + 1))],
            &[],
            &mut refused,
        );
        assert!(refused.warning().unwrap().starts_with("2 refused"));
        assert!(m.items["i0"].description.is_empty());

        let mut refused = ItemsRefused::default();
        for e in 0..MAX_ENTITIES + 3 {
            add_to_entity(&mut m, &format!("e{e}"), ["i1".to_string()], &mut refused);
        }
        assert_eq!(m.entities.len(), MAX_ENTITIES);
        assert!(refused.warning().is_some());

        remove(&mut m, &["i1".to_string()]);
        assert!(m.entities.values().all(|members| !members.contains("i1")));
        replace_in_entity(
            &mut m,
            "bag",
            vec!["i2".to_string()],
            &mut ItemsRefused::default(),
        );
        assert_eq!(m.entities["bag"].len(), 1);
        remove_from_entity(&mut m, "bag", &["i2".to_string()]);
        assert!(m.entities["bag"].is_empty());
    }
}
