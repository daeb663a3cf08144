//! Entity item operations: create or update, remove, put items into entities.

use super::incoming::Incoming;
use crate::engine::items::{self, ItemsRefused};
use crate::protocol::ai::inworld::packets::entities::{
    items_in_entities_operation, items_operation_event, ItemsOperationEvent,
};

pub(super) async fn operation(incoming: &Incoming<'_>, op: ItemsOperationEvent) {
    use items_in_entities_operation::Type;
    use items_operation_event::Operation;
    let mut refused = ItemsRefused::default();
    {
        let mut memory = incoming.ctx.session.memory.lock();
        let m = &mut *memory;
        match op.operation {
            Some(Operation::CreateOrUpdateItems(c)) => {
                items::create_or_update(m, c.items, &c.add_to_entities, &mut refused)
            }
            Some(Operation::RemoveItems(r)) => items::remove(m, &r.item_ids),
            Some(Operation::ItemsInEntities(o)) => {
                for entity in &o.entity_names {
                    match Type::try_from(o.r#type).unwrap_or(Type::Unspecified) {
                        Type::Add => items::add_to_entity(
                            m,
                            entity,
                            o.item_ids.iter().cloned(),
                            &mut refused,
                        ),
                        Type::Remove => items::remove_from_entity(m, entity, &o.item_ids),
                        Type::Replace => {
                            items::replace_in_entity(m, entity, o.item_ids.clone(), &mut refused)
                        }
                        Type::Unspecified => {}
                    }
                }
            }
            None => {}
        }
    }
    if let Some(w) = refused.warning() {
        incoming.warn(format!("entity items: {w}")).await;
    }
}
