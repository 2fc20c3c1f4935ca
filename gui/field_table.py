"""Which widget holds each table field the parameters panel shows, and which follow the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline import fields

Binding = tuple[Callable[[], Any], Callable[[Any], None]]  # the widget's (getter, setter)


class FieldTable:
    """The panel's table fields, each bound to its widget. Sampler, CFG and the text-to-image
    size follow the loaded model (its native size, its card's sampler and CFG) until the user
    chooses their own: `follows` says which do."""

    def __init__(self, bindings: dict[str, Binding]) -> None:
        self.bindings = bindings
        self.follows: set[str] = set(fields.MODEL_DEFAULTED)
        self.model: dict[str, Any] = {}

    def take_model(self, defaults: dict[str, Any]) -> None:
        """Keeps a loaded model's own values (unknown keys and bad values are ignored)."""
        self.model = fields.clean(defaults, fields.MODEL_DEFAULTED)[0]

    def model_value(self, name: str) -> Any:
        return self.model.get(name, fields.FALLBACKS[name])

    def shown(self) -> dict[str, Any]:
        return {name: getter() for name, (getter, _) in self.bindings.items()}

    def show(self, name: str, value: Any) -> None:
        self.bindings[name][1](value)

    def request_value(self, name: str) -> Any:
        """A model-followed field is sent as the model's value once it is known, else None
        (the engine then uses the model's own: a first Generate before loading ends)."""
        if name in self.follows:
            return self.model.get(name)
        return self.bindings[name][0]()

    def request_fields(self, masked: bool) -> dict[str, Any]:
        """The request values every mode shares, plus the mask's own when `masked`."""
        names = ("prompt", "negative_prompt", "sampler", "steps", "guidance", "batch_size",
                 "strength")  # fmt: skip
        values = {name: self.request_value(name) for name in names}
        values.update(
            prompt=values["prompt"].strip(), negative_prompt=values["negative_prompt"].strip()
        )
        if masked:
            for name in ("mask_blur", "mask_grow", "inpaint_area", "inpaint_padding",
                         "color_correction"):  # fmt: skip
                values[name] = self.request_value(name)
        return values
