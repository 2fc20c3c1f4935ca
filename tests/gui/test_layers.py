"""The document's layer stack: flattening, layer operations, strokes, fill and their undo steps,
checked pixel by pixel (the GUI-driven tests are in test_paint.py)."""

import numpy as np
import pytest

from gui.document import Document
from gui.layers import Layer
from gui.paint_brush import PaintSettings

RED, BLUE, GREEN = (220, 30, 30), (30, 60, 200), (20, 180, 40)


def solid(doc, color, alpha=255):
    pixels = np.zeros((doc.height, doc.width, 4), np.uint8)
    pixels[...] = (*color, alpha)
    return pixels


def stroke(doc, points, **settings):
    settings = {"size": 6, "hardness": 1.0, "color": RED, **settings}
    pressure = settings.pop("pressure", 1.0)
    assert doc.begin_paint(PaintSettings(**settings), *points[0], pressure) is None
    for point in points[1:]:
        doc.paint_to(*point, pressure)
    doc.end_paint()


def test_a_new_document_is_an_image_layer_and_an_empty_active_paint_layer(qtbot):
    doc = Document(8, 6)
    assert [(layer.name, layer.kind) for layer in doc.layers] == [
        ("Image", "image"),
        ("Paint 1", "paint"),
    ]
    assert doc.active_layer is doc.layers[1] and doc.active_layer.pixels.shape == (6, 8, 4)
    assert (doc.image == 255).all() and not doc.image.flags.writeable


def test_a_stroke_lands_on_the_active_layer_once_per_undo_step(qtbot):
    doc = Document(64, 64)
    edits = []
    doc.edited.connect(lambda: edits.append(1))
    doc.begin_paint(PaintSettings(size=6, hardness=1.0, color=RED), 10, 32)
    doc.paint_to(50, 32)
    assert edits == []  # not during the stroke
    doc.end_paint()
    assert edits == [1] and doc.undo_stack.count() == 1
    layer = doc.active_layer
    assert tuple(layer.pixels[32, 30]) == (*RED, 255) and tuple(doc.image[32, 30]) == RED
    assert (doc.layers[0].pixels[..., :3] == 255).all()  # the image layer is untouched
    assert not doc.mask.any()
    painted = doc.image.copy()
    doc.undo_stack.undo()
    assert (doc.image == 255).all() and not layer.pixels[..., 3].any() and edits == [1, 1]
    doc.undo_stack.redo()
    assert np.array_equal(doc.image, painted)


def test_a_stroke_keeps_only_the_box_it_touched(qtbot):
    doc = Document(1024, 1024)
    stroke(doc, [(100, 100), (120, 110)])
    command = doc.undo_stack.command(0)
    assert command.before.shape == command.after.shape
    assert command.before.shape[0] * command.before.shape[1] < 40 * 40  # not 1024²


def test_opacity_and_soft_strokes_do_not_build_up_within_a_stroke(qtbot):
    doc = Document(32, 32)
    stroke(doc, [(16, 16), (16.5, 16), (16, 16)], size=10, opacity=0.5)
    alpha = doc.active_layer.pixels[16, 16, 3]
    assert alpha == 128  # crossing the same spot again in one stroke keeps 50%
    blended = doc.image[16, 16].astype(int)
    assert np.abs(blended - (np.array(RED) + 255) / 2).max() <= 1


def test_the_eraser_takes_paint_away_and_shows_what_is_below(qtbot):
    doc = Document(32, 32)
    doc.add_layer(solid(doc, GREEN), "green")
    stroke(doc, [(16, 16)], size=8, erase=True)
    assert doc.active_layer.pixels[16, 16, 3] == 0
    assert tuple(doc.image[16, 16]) == (255, 255, 255) and tuple(doc.image[2, 2]) == GREEN


def test_visibility_order_and_opacity_change_the_flattened_picture(qtbot):
    doc = Document(16, 16)
    red = doc.add_layer(solid(doc, RED), "red")
    blue = doc.add_layer(solid(doc, BLUE), "blue")
    assert tuple(doc.image[0, 0]) == BLUE
    doc.move_layer(blue, -1)
    assert tuple(doc.image[0, 0]) == RED and doc.layers.index(blue) < doc.layers.index(red)
    doc.set_visible(red, False)
    assert tuple(doc.image[0, 0]) == BLUE
    doc.set_visible(red, True)
    for value in (0.9, 0.7, 0.5):  # a slider drag: one undo step
        doc.set_opacity(red, value)
    half = np.rint((np.array(RED) + np.array(BLUE)) / 2)
    assert np.abs(doc.image[0, 0] - half).max() <= 1
    count = doc.undo_stack.count()
    doc.undo_stack.undo()
    assert red.opacity == 1.0 and tuple(doc.image[0, 0]) == RED
    assert doc.undo_stack.count() == count
    for _ in range(3):
        doc.undo_stack.undo()
    assert tuple(doc.image[0, 0]) == BLUE and doc.layers[-1] is blue


def test_merge_down_keeps_the_picture_and_undoes_to_both_layers(qtbot):
    doc = Document(16, 16)
    doc.add_layer(solid(doc, BLUE), "blue")
    stroke(doc, [(8, 8)], size=4)  # red on "blue"
    top = doc.add_layer(solid(doc, GREEN, alpha=0), "empty")
    top.pixels[0:4, 0:4] = (*GREEN, 255)
    doc.set_opacity(top, 0.5)
    before = doc.image.copy()
    layers = list(doc.layers)
    assert doc.merge_down() is None
    assert len(doc.layers) == len(layers) - 1
    assert np.abs(doc.image.astype(int) - before).max() <= 1
    doc.undo_stack.undo()
    assert doc.layers == layers
    assert "bottom" in doc.merge_down(doc.layers[0])


def test_delete_refuses_the_last_layer_and_undo_brings_a_layer_back(qtbot):
    doc = Document(8, 8)
    doc.add_layer(solid(doc, RED), "red")
    red = doc.active_layer
    doc.delete_layer()
    assert red not in doc.layers and (doc.image == 255).all()
    doc.undo_stack.undo()
    assert doc.active_layer is red and tuple(doc.image[0, 0]) == RED
    while len(doc.layers) > 1:
        doc.delete_layer()
    assert doc.delete_layer() == "The only layer cannot be deleted."


def test_add_layer_refuses_another_size_and_layer_pixels_filters_by_kind(qtbot):
    doc = Document(8, 8)
    with pytest.raises(ValueError, match="does not fit the 8×8 canvas"):
        doc.add_layer(np.zeros((4, 8, 3), np.uint8), "wrong")
    control = doc.add_layer(np.zeros((8, 8, 3), np.uint8), "pose", kind="control")
    assert doc.layer_pixels("control") == [control]
    assert (doc.image == 255).all()  # control layers never reach the picture
    doc.set_visible(control, False)
    assert doc.layer_pixels("control") == []


def test_fill_stays_inside_the_outline_and_is_one_step(qtbot):
    doc = Document(40, 40)
    paint = doc.active_layer
    paint.pixels[10, 10:30] = paint.pixels[29, 10:30] = (0, 0, 0, 255)
    paint.pixels[10:30, 10] = paint.pixels[10:30, 29] = (0, 0, 0, 255)
    paint.touched()
    doc._refresh(None)
    assert doc.fill(PaintSettings(color=RED), 20, 20) is None
    assert doc.undo_stack.count() == 1
    assert tuple(doc.image[20, 20]) == RED and tuple(doc.image[11, 11]) == RED
    assert tuple(doc.image[5, 5]) == (255, 255, 255) and tuple(doc.image[35, 20]) == (255,) * 3
    assert tuple(doc.image[10, 20]) == RED  # the outline's own pixel: the one-pixel growth
    doc.undo_stack.undo()
    assert tuple(doc.image[20, 20]) == (255, 255, 255)


def test_painting_outside_the_canvas_is_clipped_and_a_one_pixel_canvas_works(qtbot):
    doc = Document(64, 64)
    stroke(doc, [(-200, -200), (-100, -150)])
    assert doc.undo_stack.count() == 0  # nothing landed: no empty undo step
    stroke(doc, [(60, 32), (200, 32)], size=10)
    assert doc.undo_stack.count() == 1 and tuple(doc.image[32, 63]) == RED
    assert doc.fill(PaintSettings(color=RED), 100, 5) == "Click inside the canvas to fill."
    assert doc.pick(-1, 3) is None and doc.pick(float("nan"), 3) is None
    tiny = Document(1, 1)
    stroke(tiny, [(0.5, 0.5)], size=1)
    assert tuple(tiny.image[0, 0]) == RED
    tiny.undo_stack.undo()
    assert tiny.fill(PaintSettings(color=BLUE), 0, 0) is None
    assert tuple(tiny.image[0, 0]) == BLUE and tiny.pick(0.9, 0.2) == BLUE


def test_a_hidden_layer_refuses_paint_and_fill(qtbot):
    doc = Document(16, 16)
    doc.set_visible(doc.active_layer, False)
    why = doc.begin_paint(PaintSettings(), 8, 8)
    assert why and "hidden" in why and not doc.painting
    assert "hidden" in doc.fill(PaintSettings(), 8, 8)
    assert not doc.active_layer.pixels.any()


def test_a_result_goes_to_a_new_layer_or_replaces_the_image_layer(qtbot):
    doc = Document(16, 16)
    stroke(doc, [(8, 8)], size=4)
    painting = doc.active_layer.pixels.copy()
    result = np.full((16, 16, 3), 90, np.uint8)
    doc.apply_result(result, "Result 1")
    assert doc.active_layer.name == "Result 1" and np.array_equal(doc.image, result)
    assert np.array_equal(doc.layers[1].pixels, painting)  # the painting below is kept
    doc.undo_stack.undo()
    doc.apply_result(result, "Result 1", as_layer=False)
    assert np.array_equal(doc.layers[0].pixels[..., :3], result) and len(doc.layers) == 2
    assert tuple(doc.image[8, 8]) == RED and tuple(doc.image[0, 0]) == (90, 90, 90)
    doc.apply_result(np.zeros((24, 16, 3), np.uint8), "Other size")
    assert (doc.width, doc.height) == (16, 24) and not doc.image.any()


def test_outpaint_grows_every_layer_and_the_picture_equals_the_canvas(qtbot):
    doc = Document(8, 8)
    stroke(doc, [(4, 4)], size=2)
    before = doc.image.copy()
    canvas = np.full((8, 16, 3), 77, np.uint8)
    canvas[:, 4:12] = before
    mask = np.zeros((8, 16), np.uint8)
    mask[:, :4] = mask[:, 12:] = 255
    doc.extend(canvas, (4, 0, 4, 0), mask, "Extend canvas")
    assert all(layer.pixels.shape == (8, 16, 4) for layer in doc.layers)
    assert np.array_equal(doc.image, canvas) and np.array_equal(doc.mask, mask)
    assert not doc.layers[1].pixels[:, :4].any()  # a paint layer grows transparent
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, before)


def test_resize_scales_every_layer(qtbot):
    doc = Document(16, 16)
    doc.add_layer(solid(doc, BLUE), "blue")
    doc.resize(8, 4)
    assert [layer.pixels.shape for layer in doc.layers] == [(4, 8, 4)] * 3
    assert tuple(doc.image[2, 4]) == BLUE


def test_painting_makes_a_blank_canvas_worth_keeping(qtbot):
    doc = Document(16, 16)
    assert doc.is_blank and not doc.has_unstored_changes()
    stroke(doc, [(8, 8)])
    assert not doc.is_blank and doc.has_unstored_changes()
    doc.undo_stack.undo()
    assert doc.is_blank


def test_session_layers_are_read_only_copies_remade_only_after_a_change(qtbot):
    doc = Document(16, 16)
    first = doc.session_layers()
    assert all(not layer.pixels.flags.writeable for layer in first)
    again = doc.session_layers()
    assert again[0].pixels is first[0].pixels and again[1].pixels is first[1].pixels
    stroke(doc, [(8, 8)])
    after = doc.session_layers()
    assert after[0].pixels is first[0].pixels  # untouched: not copied again
    assert after[1].pixels is not first[1].pixels and after[1].pixels[8, 8, 3] == 255
    assert first[1].pixels[8, 8, 3] == 0  # what autosave was handed does not change


def test_load_layers_restores_names_visibility_and_opacity(qtbot):
    doc = Document(4, 4)
    layers = [
        Layer("Image", "image", solid(doc, BLUE)),
        Layer("sketch", "paint", solid(doc, RED), visible=False, opacity=0.5),
    ]
    doc.load_layers(layers, "Restore session", active=0)
    assert doc.active_layer is layers[0] and tuple(doc.image[0, 0]) == BLUE


def test_replacing_the_image_layer_after_it_was_deleted_puts_one_back_at_the_bottom(qtbot):
    doc = Document(8, 8)
    doc.delete_layer(doc.layers[0])
    assert [layer.kind for layer in doc.layers] == ["paint"]
    doc.apply_result(np.full((8, 8, 3), 5, np.uint8), "Result", as_layer=False)
    assert [layer.kind for layer in doc.layers] == ["image", "paint"]
    assert doc.active_layer.kind == "paint" and tuple(doc.image[0, 0]) == (5, 5, 5)


def test_undo_of_a_long_soft_stroke_over_painted_pixels_restores_them_exactly(qtbot):
    doc = Document(300, 200)
    noise = np.random.default_rng(3).integers(0, 256, (200, 300, 4), np.uint8)
    doc.add_layer(noise, "noise")
    before = doc.active_layer.pixels.copy()
    stroke(doc, [(-10, 5), (150, 100), (310, 190)], size=37, hardness=0.3, opacity=0.6)
    assert not np.array_equal(doc.active_layer.pixels, before)
    doc.undo_stack.undo()
    assert np.array_equal(doc.active_layer.pixels, before)


def test_a_result_arriving_during_a_stroke_ends_the_stroke_as_its_own_step(qtbot):
    doc = Document(32, 32)
    doc.begin_paint(PaintSettings(size=4, hardness=1.0, color=RED), 5, 5)
    doc.paint_to(10, 5)
    doc.apply_result(np.zeros((48, 48, 3), np.uint8), "Result of another size")
    doc.paint_to(40, 40)  # the button is still held: nothing more happens
    doc.end_paint()
    assert (doc.width, doc.height) == (48, 48) and not doc.image.any()
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert tuple(doc.image[5, 8]) == RED and tuple(doc.image[5, 20]) == (255, 255, 255)
