//! The session's world: changing its scene, and the entity items of the
//! world (created, updated, removed, put in entities).

use std::ffi::c_char;

use super::entry::{iw_session, SESSIONS};
use crate::client::{EntityItem, ItemsInEntities, SceneChange};
use crate::ffi::args::{
    iw_key_value, key_values_arg, optional_string_arg, out_arg, slice_arg, str_arg, str_array_arg,
    string_arg,
};
use crate::ffi::client::{capabilities_arg, continuation_arg, iw_dialog_line};
use crate::ffi::error::*;
use crate::protocol::ai::inworld::packets::entities::items_in_entities_operation::Type as ItemsType;

/// `iw_scene_change.capabilities`: keep the session's capabilities (not a
/// bit: any other value is a bitmask of `IW_CAP_*`).
pub const IW_CAP_KEEP: u32 = u32::MAX;

/// What goes with a scene change (`iw_session_change_scene`). Fill it with
/// `iw_scene_change_init`, then set what you need; everything is copied.
#[repr(C)]
pub struct iw_scene_change {
    /// `sizeof(iw_scene_change)`, set by `iw_scene_change_init`.
    pub struct_size: u32,
    /// `IW_CAP_*` bitmask for the session from now on, or `IW_CAP_KEEP`
    /// (default) for the session's present ones (sent either way).
    pub capabilities: u32,
    /// The game's own id for this play session (default NULL: not sent).
    pub game_session_id: *const c_char,
    /// Continue from saved state bytes (an `IW_CALL_SESSION_STATE` result),
    /// `continuation_state_len` of them (default none).
    pub continuation_state: *const u8,
    /// How many bytes `continuation_state` has (default 0).
    pub continuation_state_len: usize,
    /// Or continue a dialog: `dialog_history_count` lines, oldest first
    /// (default none; e.g. from `iw_session_dialog_line_at`). At most one
    /// of the two continuations.
    pub dialog_history: *const iw_dialog_line,
    /// How many lines `dialog_history` has (default 0).
    pub dialog_history_count: usize,
}

/// Fills `change` with its defaults (`struct_size`, `IW_CAP_KEEP`, nothing
/// else). Errors: `IW_E_NULL_POINTER`. Thread-safe; works before any other call.
#[no_mangle]
pub unsafe extern "C" fn iw_scene_change_init(change: *mut iw_scene_change) -> iw_result {
    ffi_boundary! {
        out_arg(change, "change")?.write(iw_scene_change {
            struct_size: std::mem::size_of::<iw_scene_change>() as u32,
            capabilities: IW_CAP_KEEP,
            game_session_id: std::ptr::null(),
            continuation_state: std::ptr::null(),
            continuation_state_len: 0,
            dialog_history: std::ptr::null(),
            dialog_history_count: 0,
        });
        Ok(())
    }
}

/// Changes the session's scene to `scene` (a scene or a character resource
/// name of the session's workspace), keeping the session: as the Node SDK
/// does, the configuration `change` carries goes out, then the new scene is
/// loaded (`change` NULL: only the name). Returns at once.
///
/// An `IW_PACKET_SCENE_MUTATION` tells when the change went out; the new
/// character list arrives as an `IW_PACKET_SCENE_STATUS` (sends made
/// meanwhile wait for it); the current character stays if it is in the new
/// scene, else it is the first. Conversations started before the change
/// start anew in the new scene. A scene the service does not have gives an
/// `IW_PACKET_ERROR` (NOT_FOUND) and the session stays in its previous scene;
/// one that does not load in `iw_client_config.scene_timeout_ms` gives an
/// error and a reconnect.
/// Errors: `IW_E_INVALID_ARGUMENT` (not a resource name of the session's
/// workspace, unknown capability bits, a bad continuation, a bad
/// `struct_size`), `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`,
/// `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_change_scene(
    session: *mut iw_session,
    scene: *const c_char,
    change: *const iw_scene_change,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let scene = str_arg(scene, "scene")?;
        let change = if change.is_null() {
            SceneChange::default()
        } else {
            scene_change_of(crate::ffi::args::sized_struct_arg(
                change,
                "change",
                "iw_scene_change_init",
            )?)?
        };
        Ok(entry.session.change_scene(scene, change)?)
    }
}

unsafe fn scene_change_of(c: &iw_scene_change) -> FfiResult<SceneChange> {
    Ok(SceneChange {
        capabilities: match c.capabilities {
            IW_CAP_KEEP => None,
            bits => Some(capabilities_arg(bits, "change->capabilities")?),
        },
        game_session_id: optional_string_arg(c.game_session_id, "change->game_session_id")?,
        continuation: continuation_arg(
            c.continuation_state,
            c.continuation_state_len,
            c.dialog_history,
            c.dialog_history_count,
            "change",
        )?,
    })
}

/// An entity item (`iw_session_create_or_update_items`): NUL-terminated UTF-8
/// strings, copied by the call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct iw_entity_item {
    /// The item's id (required, not empty).
    pub id: *const c_char,
    /// Its display name (NULL: empty).
    pub display_name: *const c_char,
    /// Its description (NULL: empty).
    pub description: *const c_char,
    /// Its properties (`key` = property name), `property_count` of them.
    pub properties: *const iw_key_value,
    /// How many `properties` there are.
    pub property_count: usize,
}

/// Creates entity items, or updates those with the same id, and adds them
/// to the `entity_count` entities named in `entities` (NULL when 0). Returns
/// at once; queued like a send while the session cannot send.
/// Errors: `IW_E_INVALID_ARGUMENT` (an item without id), `IW_E_INVALID_UTF8`
/// (the message names the field, e.g. `items[1].properties[0].value`),
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`,
/// `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_create_or_update_items(
    session: *mut iw_session,
    items: *const iw_entity_item,
    count: usize,
    entities: *const *const c_char,
    entity_count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let items = slice_arg(items, count, "items", "count")?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let what = |field: &str| format!("items[{i}].{field}");
                Ok(EntityItem {
                    id: string_arg(item.id, &what("id"))?,
                    display_name: optional_string_arg(item.display_name, &what("display_name"))?
                        .unwrap_or_default(),
                    description: optional_string_arg(item.description, &what("description"))?
                        .unwrap_or_default(),
                    properties: key_values_arg(
                        item.properties,
                        item.property_count,
                        &what("properties"),
                        "property_count",
                    )?
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                })
            })
            .collect::<FfiResult<Vec<_>>>()?;
        let entities = str_array_arg(entities, entity_count, "entities", "entity_count")?;
        Ok(entry.session.create_or_update_items(&items, &entities)?)
    }
}

/// Removes the `count` entity items of `item_ids`. Returns at once.
/// Errors: `IW_E_INVALID_ARGUMENT` (no ids), `IW_E_INVALID_UTF8`,
/// `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`, `IW_E_CLOSED`,
/// `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_remove_items(
    session: *mut iw_session,
    item_ids: *const *const c_char,
    count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let item_ids = str_array_arg(item_ids, count, "item_ids", "count")?;
        Ok(entry.session.remove_items(&item_ids)?)
    }
}

/// `iw_session_items_in_entities`: add the items to the entities.
pub const IW_ITEMS_ADD: u32 = 1;
/// `iw_session_items_in_entities`: remove the items from the entities.
pub const IW_ITEMS_REMOVE: u32 = 2;
/// `iw_session_items_in_entities`: the entities hold these items and no others.
pub const IW_ITEMS_REPLACE: u32 = 3;

// The wire's numbers (prost-generated enum).
const _: () = {
    assert!(IW_ITEMS_ADD == ItemsType::Add as u32);
    assert!(IW_ITEMS_REMOVE == ItemsType::Remove as u32);
    assert!(IW_ITEMS_REPLACE == ItemsType::Replace as u32);
};

/// Adds the items of `item_ids` to the entities of `entity_names`, removes
/// them from those, or makes them the entities' only items (`how`:
/// `IW_ITEMS_*`). `item_ids` may be NULL when `item_count` is 0. Returns at
/// once. Errors: `IW_E_INVALID_ARGUMENT` (unknown `how`, no entity names),
/// `IW_E_INVALID_UTF8`, `IW_E_NULL_POINTER`, `IW_E_INVALID_HANDLE`,
/// `IW_E_CLOSED`, `IW_E_QUEUE_FULL`, `IW_E_SHUTDOWN`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn iw_session_items_in_entities(
    session: *mut iw_session,
    how: u32,
    item_ids: *const *const c_char,
    item_count: usize,
    entity_names: *const *const c_char,
    entity_count: usize,
) -> iw_result {
    ffi_boundary! {
        let entry = SESSIONS.get(session)?;
        let how = match how {
            IW_ITEMS_ADD => ItemsInEntities::Add,
            IW_ITEMS_REMOVE => ItemsInEntities::Remove,
            IW_ITEMS_REPLACE => ItemsInEntities::Replace,
            other => {
                return Err(FfiError::new(
                    IW_E_INVALID_ARGUMENT,
                    format!(
                        "how is {other}; expected IW_ITEMS_ADD, IW_ITEMS_REMOVE or IW_ITEMS_REPLACE"
                    ),
                ))
            }
        };
        let item_ids = str_array_arg(item_ids, item_count, "item_ids", "item_count")?;
        let entity_names =
            str_array_arg(entity_names, entity_count, "entity_names", "entity_count")?;
        Ok(entry.session.items_in_entities(how, &item_ids, &entity_names)?)
    }
}
