extends Node
## Feedback, world items and saved games with an InworldSession: the player
## rates the last reply (and can take it back), the characters are told what
## the player carries, and the conversation is saved to a file and continued
## from it when the game starts again.
##
## Put this node beside an InworldClient that has an InworldSession child
## named InworldSession, with that session's auto_open off (this script opens
## it, continuing from the save when there is one).

const SAVE_PATH := "user://inworld-session.state"

var last_interaction := ""
var last_feedback := ""

@onready var session: InworldSession = $"../InworldClient/InworldSession"


func _ready() -> void:
	session.connection_state_changed.connect(_on_state)
	session.interaction_ended.connect(_on_interaction_ended)
	session.feedback_recorded.connect(_on_feedback_recorded)
	session.feedback_undone.connect(_on_feedback_undone)
	session.state_received.connect(_on_state_received)
	session.call_failed.connect(_on_call_failed)
	session.warning_received.connect(_on_warning)
	if FileAccess.file_exists(SAVE_PATH):
		session.open_continuing(FileAccess.get_file_as_bytes(SAVE_PATH))
	else:
		session.open()


## Thumbs up for the last reply.
func like_last_reply() -> void:
	if not last_interaction.is_empty():
		session.like(last_interaction)


## Thumbs down, with why and what the player wrote.
func dislike_last_reply(comment: String) -> void:
	if not last_interaction.is_empty():
		session.dislike(last_interaction, PackedStringArray(["too_long"]), comment)


func undo_last_feedback() -> void:
	if not last_feedback.is_empty():
		session.undo_feedback(last_feedback)


## Asks for the saved state; _on_state_received writes it.
func save_game() -> void:
	session.request_state()


## The player dropped the sword: it leaves the inventory, and the world.
func drop_sword() -> void:
	var sword := PackedStringArray(["sword-1"])
	session.items_in_entities("remove", sword, PackedStringArray(["inventory"]))
	session.remove_items(sword)


func _on_state(state: String) -> void:
	if state == "ready":
		var properties := {"damage": "7", "condition": "rusty"}
		session.create_or_update_item(
			"sword-1", "Old sword", "A rusty but sharp sword.", properties, PackedStringArray(["inventory"])
		)


func _on_interaction_ended(interaction_id: String, _conversation_id: String) -> void:
	last_interaction = interaction_id


func _on_feedback_recorded(_request_id: int, feedback_name: String) -> void:
	last_feedback = feedback_name


func _on_feedback_undone(_request_id: int) -> void:
	last_feedback = ""


func _on_state_received(_request_id: int, state: PackedByteArray, _version: String) -> void:
	var file := FileAccess.open(SAVE_PATH, FileAccess.WRITE)
	if file:
		file.store_buffer(state)


func _on_call_failed(_request_id: int, call: String, grpc_code: int, message: String) -> void:
	push_warning("Inworld %s failed (%d): %s" % [call, grpc_code, message])


func _on_warning(message: String) -> void:
	push_warning("Inworld: %s" % message)
