"""Tables and charts the staff pages share: rows that stack into labelled cards on a phone, a chart's
numbers as a table a screen reader reads, and explanation text with its *emphasis* rendered."""

from __future__ import annotations

import html
import re
from typing import Any

from nicegui import ui

from nextread.ui.context import url

# Below 600 px each row becomes a card of "label: value" lines, so no table scrolls sideways on a phone.
STACKED_CSS = """
@media (max-width: 599px) {
  .stacked thead { display: none; }
  .stacked table, .stacked tbody { display: block; width: 100%; }
  .stacked tr { display: block; border-bottom: 1px solid #d1d5db; padding: 6px 0; height: auto !important; }
  .stacked td { display: flex; justify-content: space-between; align-items: baseline; gap: 12px;
    height: auto !important;
    padding: 2px 8px !important; border: 0 !important; white-space: normal !important;
    text-align: right !important; }
  .stacked td::before { content: attr(data-label); position: static !important; background: none !important;
    pointer-events: none; font-weight: 600; color: #374151; text-align: left; flex: none; }
}
.stacked a { display: inline-block; min-height: 24px; line-height: 24px; color: #3730a3;
  text-decoration: underline; }
"""
_EMPHASIS = re.compile(r"\*([^*\n]+)\*")


def stacked_table(
    columns: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    link: tuple[str, str, str] | None = None,
    row_key: str = "id",
) -> ui.table:
    """A table without Quasar's pager (its icon buttons have no names; pages use ``widgets.Pager``).
    ``link`` is ``(column, page path prefix, css class)``: that column links to the row's page, by
    ``link_id`` when a row has one, else by ``id``."""
    ui.add_css(STACKED_CSS)
    table = (
        ui.table(columns=columns, rows=rows, row_key=row_key, pagination=0)
        .props("flat hide-bottom")
        .classes("w-full stacked")
    )
    linked = "" if link is None else link[0]
    href = "" if link is None else url(link[1])
    css = "" if link is None else link[2]
    table.add_slot(
        "body",
        f"""<q-tr :props="props">
  <q-td v-for="col in props.cols" :key="col.name" :props="props" :data-label="col.label">
    <a v-if="col.name === '{linked}'" class="{css}"
       :href="'{href}' + encodeURIComponent(props.row.link_id || props.row.id)">{{{{ col.value }}}}</a>
    <template v-else>{{{{ col.value }}}}</template>
  </q-td>
</q-tr>""",
    )
    return table


def chart_numbers(caption: str, headers: tuple[str, str], rows: list[tuple[str, Any]]) -> None:
    """The numbers a chart draws, as a table only screen readers see (the chart itself is hidden
    from them: a canvas says nothing)."""
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headers)
    body = "".join(
        f'<tr><th scope="row">{html.escape(str(label))}</th><td>{html.escape(str(value))}</td></tr>'
        for label, value in rows
    )
    ui.html(
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    ).classes("sr-only")


def chart(options: dict[str, Any], height: str) -> ui.echart:
    """An echart that uses its card: small margins (the default leaves a 192-px chart ~70 px of plot)
    and labels kept inside."""
    grid = {"left": 8, "right": 40, "top": 16, "bottom": 8, "containLabel": True}
    return ui.echart({"grid": grid, **options}).classes(f"w-full {height}").props('aria-hidden="true"')


def emphasised(text: str) -> str:
    """Explanation text as safe HTML: everything escaped (book titles are school data), then the
    engine's ``*title*`` marks turned into emphasis."""
    return _EMPHASIS.sub(r"<em>\1</em>", html.escape(text))
