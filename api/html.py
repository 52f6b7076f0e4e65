"""HTML pages (``f=html``) rendered from the Jinja templates in ``api/templates`` (pygeoapi style).

Autoescaping is on for every template, so a name, a title or a link from the data is always text,
never markup; the words come from :mod:`lomsong.products.words` (Vietnamese first) and the column
headers from its glossary. The pages load nothing from another host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.prepare import Collection
from api.serialise import table_rows
from lomsong.products.words import header, text

TEMPLATES = Path(__file__).with_name("templates")
_ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a missing value is an error in the tests, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(template: str, *, title: str, synthetic: bool = False, lang: str = "vi", **context: Any) -> bytes:
    """Render one page template to UTF-8 (``synthetic`` adds the simulated-data banner).

    Parameters
    ----------
    template : str
        File name in ``api/templates`` (``document.html``, ``items.html`` …).
    title : str
        Page title (escaped like every value).
    synthetic : bool
        The data shown are simulated.
    lang : str
        Language of the words (``vi`` or ``en``).
    **context
        The template's other values.

    Returns
    -------
    bytes
    """

    def words(key: str, **values: object) -> str:
        return text(lang, key, **values)

    page = _ENVIRONMENT.get_template(template).render(title=title, synthetic=synthetic, lang=lang, t=words, **context)
    return page.encode("utf-8")


def document_page(
    title: str,
    links: Sequence[Mapping[str, str]],
    *,
    description: str | None = None,
    items: Sequence[str] = (),
    items_heading: str = "",
    synthetic: bool = False,
) -> bytes:
    """Return a document page (landing page, conformance, collections, one collection)."""
    return render_page(
        "document.html",
        title=title,
        synthetic=synthetic,
        links=list(links),
        description=description,
        items=list(items),
        items_heading=items_heading,
    )


def feature_table(
    collection: Collection, positions: np.ndarray, item_href: str | None = None, lang: str = "vi"
) -> dict[str, Any]:
    """Return the rows of a page as the ``feature_table`` macro reads them: columns, then id, link, values.

    Values are rounded like the run's downloads (:func:`api.serialise.table_rows`); headers are the
    glossary's (the machine name is the header's tooltip).
    """
    table = table_rows(collection, positions)
    values = table.astype(object).where(table.notna(), "").astype(str).to_numpy().tolist()
    ids = collection.feature_ids[positions].tolist()
    hrefs = [item_href.format(fid) for fid in ids] if item_href else [None] * len(ids)
    columns = [{"name": "id", "header": "id"}] + [{"name": c, "header": header(c, lang)} for c in table.columns]
    rows = [{"id": fid, "href": href, "cells": row} for fid, href, row in zip(ids, hrefs, values, strict=True)]
    return {"columns": columns, "rows": rows}


def items_page(
    title: str,
    collection: Collection,
    positions: np.ndarray,
    links: Sequence[Mapping[str, str]],
    *,
    matched: int | None = None,
    item_href: str | None = None,
    synthetic: bool = False,
) -> bytes:
    """Return a page of features as a table (``matched`` None: one feature, no count line)."""
    return render_page(
        "items.html",
        title=title,
        synthetic=synthetic,
        links=list(links),
        matched=matched,
        returned=len(positions),
        table=feature_table(collection, np.asarray(positions), item_href),
    )


def html_links(links: Iterable[Mapping[str, str]]) -> Markup:
    """Return an HTML list of links (escaped), to put in a page with :func:`html_page`."""
    return Markup(_ENVIRONMENT.get_template("macros.html").module.link_list(list(links)))


def html_table(collection: Collection, positions: np.ndarray, item_href: str | None = None) -> Markup:
    """Return an HTML table of the rows (feature ids linked to ``item_href.format(id)``), escaped."""
    table = feature_table(collection, np.asarray(positions), item_href)
    return Markup(_ENVIRONMENT.get_template("macros.html").module.feature_table(table))


def html_page(title: str, body: str | Markup, synthetic: bool = False) -> bytes:
    """Return a page around ``body``: markup from :func:`html_links` / :func:`html_table` is kept,
    plain text is escaped (prefer :func:`document_page` and :func:`items_page`)."""
    return render_page("fragment.html", title=title, synthetic=synthetic, body=body)


__all__ = ["document_page", "feature_table", "html_links", "html_page", "html_table", "items_page", "render_page"]
