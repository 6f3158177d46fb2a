"""Renders the built-in reply templates in ``briefings/`` into styled lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from bot import richtext
from bot.messages import Line


def builtin_templates_dir() -> Path:
    import briefings

    return Path(briefings.__file__).resolve().parent


class Views:
    """The built-in templates, compiled once. Values are autoescaped; see bot.richtext."""

    def __init__(self, directory: Path | None = None) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory or builtin_templates_dir())),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )

    def source(self, name: str) -> str:
        loader = self.env.loader
        assert loader is not None
        return loader.get_source(self.env, name)[0]

    def render_markup(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def render(self, name: str, **context: Any) -> tuple[Line, ...]:
        return richtext.parse(self.render_markup(name, **context))
