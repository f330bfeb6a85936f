"""The Jinja2 environment of the report and the bundle README (templates in `templates/`).

HTML templates (`*.html`) are autoescaped: board names, architecture ids and error messages from the
ledger are shown as text, never as markup. Markdown templates (`*.md`) are not escaped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def environment() -> Any:
    """The shared `jinja2.Environment` (strict: an unknown variable is an error, not an empty string)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True,
                                            default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render `templates/<template>` with `context`."""
    return environment().get_template(template).render(**context)
