class_name FaceBars
extends Control
## A debug view of a character's face: one bar per ARKit blendshape (52,
## in ARKit's order), as the character's face_changed signal gives them.
## A game with a face mesh sets InworldCharacter.face_target instead; this
## is for seeing the weights move.

const COLUMNS := 4
const ROW_HEIGHT := 14.0
const NAME_WIDTH := 130.0

var weights := PackedFloat32Array()
var speaker := ""


func _ready() -> void:
	custom_minimum_size = Vector2(0, ROW_HEIGHT * (ceili(52.0 / COLUMNS) + 1))


## Connect a character's face_changed here (bound to its name).
func show_face(new_weights: PackedFloat32Array, character: String) -> void:
	weights = new_weights
	speaker = character
	queue_redraw()


func _draw() -> void:
	var font := get_theme_default_font()
	var column_width := size.x / COLUMNS
	var bar_width := maxf(column_width - NAME_WIDTH - 8.0, 10.0)
	draw_string(font, Vector2(0, ROW_HEIGHT - 3), "Face: %s" % speaker)
	for i in weights.size():
		var x := float(i % COLUMNS) * column_width
		var y := (floorf(float(i) / COLUMNS) + 1) * ROW_HEIGHT
		var label := InworldCharacter.blendshape_name(i)
		draw_string(
			font, Vector2(x, y + ROW_HEIGHT - 3), label, HORIZONTAL_ALIGNMENT_LEFT, NAME_WIDTH
		)
		var back := Rect2(x + NAME_WIDTH, y + 2, bar_width, ROW_HEIGHT - 4)
		draw_rect(back, Color(0.2, 0.2, 0.2))
		var bar := Rect2(back.position, Vector2(bar_width * weights[i], back.size.y))
		draw_rect(bar, Color(0.9, 0.5, 0.3))
