extends Control
## The tavern chat: type a line, the chosen character answers in text and
## voice (through its InworldCharacter's audio player), with its mood and
## mouth shapes shown; "Everyone" talks to all of them at once (a group
## conversation); "Hold to talk" speaks to the chosen character through the
## microphone (push-to-talk). The face of whoever speaks shows as 52 ARKit
## blendshape bars (face_changed). Everything arrives as signals on the main
## thread.

const EVERYONE := "Everyone"

var waiting := false
var group_id := ""

@onready var session: InworldSession = $InworldClient/InworldSession
@onready var status: Label = $Layout/Status
@onready var log_view: RichTextLabel = $Layout/Log
@onready var mouth: Label = $Layout/Mouth
@onready var face: FaceBars = $Layout/Face
@onready var talk: OptionButton = $Layout/Input/Talk
@onready var line: LineEdit = $Layout/Input/Line
@onready var send: Button = $Layout/Input/Send
@onready var hold: Button = $Layout/Input/Hold
@onready var microphone: InworldMicrophone = $InworldClient/InworldSession/Microphone


func _ready() -> void:
	session.connection_state_changed.connect(_on_state)
	session.text_received.connect(_on_text)
	session.emotion_changed.connect(_on_emotion)
	session.trigger_received.connect(_on_trigger)
	session.interaction_ended.connect(_on_interaction_ended)
	session.error_received.connect(_on_error)
	session.characters_changed.connect(_on_characters_changed)
	for character in [$InworldClient/InworldSession/Marta, $InworldClient/InworldSession/Finn]:
		character.viseme_changed.connect(_on_viseme.bind(character.name))
		character.face_changed.connect(face.show_face.bind(character.name))
	send.pressed.connect(_on_send)
	hold.button_down.connect(_on_hold_down)
	hold.button_up.connect(_on_hold_up)
	line.text_submitted.connect(func(_text: String) -> void: _on_send())


func _on_state(state: String) -> void:
	status.text = "Session: %s" % state


func _on_characters_changed() -> void:
	talk.clear()
	var names := PackedStringArray()
	for character in session.characters():
		talk.add_item(character["display_name"])
		names.append(character["display_name"])
	if names.size() > 1:
		talk.add_item(EVERYONE)
	if not group_id.is_empty():
		session.end_conversation(group_id)
		group_id = ""
	if names.size() > 1:
		group_id = session.start_conversation(names, true)


func _on_send() -> void:
	var text := line.text.strip_edges()
	if text.is_empty() or waiting:
		return
	var character := talk.get_item_text(talk.selected) if talk.item_count > 0 else ""
	var node := session.get_node_or_null(NodePath(character))
	var sent := false
	if character == EVERYONE:
		sent = session.send_text_to_conversation(group_id, text)
	elif node:
		sent = node.say(text)
	elif session.set_current_character(character):
		sent = session.send_text(text)
	if sent:
		waiting = true
		log_view.append_text("[b]You:[/b] %s\n" % text)
		line.clear()


func _on_hold_down() -> void:
	var character := talk.get_item_text(talk.selected) if talk.item_count > 0 else ""
	if character != EVERYONE and not character.is_empty():
		session.set_current_character(character)
	if microphone.start_talking():
		status.text = "Listening..."


func _on_hold_up() -> void:
	if microphone.stop_talking():
		waiting = true
		status.text = "Session: ready"


func _on_text(
	_speaker: String, speaker_name: String, text: String, is_final: bool, _conversation_id: String
) -> void:
	if is_final and not speaker_name.is_empty() and speaker_name != "Player":
		log_view.append_text("[b]%s:[/b] %s\n" % [speaker_name, text])


func _on_emotion(_speaker: String, behavior: String, strength: String) -> void:
	log_view.append_text("[i](%s, %s)[/i]\n" % [behavior.to_lower(), strength.to_lower()])


func _on_trigger(_speaker: String, trigger_name: String, parameters: Dictionary) -> void:
	log_view.append_text("[i][%s %s][/i]\n" % [trigger_name, parameters])


func _on_interaction_ended(_interaction_id: String, _conversation_id: String) -> void:
	waiting = false


func _on_error(message: String, _details: Dictionary) -> void:
	log_view.append_text("[color=red]%s[/color]\n" % message)
	waiting = false


func _on_viseme(_viseme: int, viseme_name: String, character: String) -> void:
	mouth.text = "%s: %s" % [character, viseme_name]
