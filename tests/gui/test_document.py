import numpy as np

from gui.document import Document
from gui.mask_brush import BrushSettings


def paint(doc, points, **settings):
    doc.begin_stroke(BrushSettings(**settings), *points[0])
    for point in points[1:]:
        doc.stroke_to(*point)
    doc.end_stroke()


def test_one_stroke_is_one_undo_step_and_redo_restores_exact_pixels(qtbot):
    doc = Document(64, 64)
    paint(doc, [(10, 10), (30, 10), (50, 40)], size=8, hardness=0.5)
    painted = doc.mask.copy()
    assert painted.any() and doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert not doc.mask.any()
    doc.undo_stack.redo()
    assert np.array_equal(doc.mask, painted)


def test_mask_operations_are_undoable(qtbot):
    doc = Document(32, 32)
    paint(doc, [(5, 5)], size=6, hardness=1.0)
    stroke = doc.mask.copy()
    doc.invert_mask()
    assert np.array_equal(doc.mask, 255 - stroke)
    doc.fill_mask()
    assert (doc.mask == 255).all()
    doc.clear_mask()
    assert not doc.has_mask()
    for expected in (np.full_like(stroke, 255), 255 - stroke, stroke):
        doc.undo_stack.undo()
        assert np.array_equal(doc.mask, expected)


def test_replacing_the_image_is_one_step_and_handles_size_changes(qtbot):
    doc = Document(32, 32)
    sizes = []
    doc.size_changed.connect(lambda w, h: sizes.append((w, h)))
    result = np.zeros((48, 40, 3), np.uint8)
    doc.replace(result, "Apply result")
    assert (doc.width, doc.height) == (40, 48) and doc.mask.shape == (48, 40)
    assert not doc.is_blank and sizes == [(40, 48)]
    doc.undo_stack.undo()
    assert (doc.width, doc.height) == (32, 32) and doc.is_blank
    assert (doc.image == 255).all() and sizes[-1] == (32, 32)


def test_mask_survives_a_same_size_result(qtbot):
    doc = Document(16, 16)
    doc.fill_mask()
    doc.replace(np.zeros((16, 16, 3), np.uint8), "Apply result")
    assert (doc.mask == 255).all()
