"""Whether a request asks for a page or for data, by its Accept header (RFC 9110, section 12.5.1)."""

_HTML = "text/html"
_JSON = "application/json"


def _quality(accept: str, media_type: str) -> float:
    """The weight Accept gives `media_type`: that of the most specific range that matches it, else 0."""
    main_type = media_type.split("/")[0]
    best_specificity, quality = -1, 0.0
    for entry in accept.split(","):
        media_range, *parameters = (part.strip() for part in entry.split(";"))
        media_range = media_range.lower()
        specificity = {media_type: 2, f"{main_type}/*": 1, "*/*": 0}.get(media_range)
        if specificity is None or specificity <= best_specificity:
            continue
        best_specificity, quality = specificity, _q_of(parameters)
    return quality


def _q_of(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def prefers_html(accept: str | None) -> bool:
    """True when Accept names text/html and weighs it above JSON: a browser opening a page. `*/*` alone,
    or HTML and JSON weighed alike, is an API client's, which keeps getting JSON."""
    if not accept or _HTML not in accept.lower():
        return False  # the common case for API clients, decided without parsing
    return _quality(accept, _HTML) > _quality(accept, _JSON)


def prefers_json(accept: str | None) -> bool:
    """True when Accept weighs JSON above HTML: the web app's own script asking for data, not a page."""
    if not accept or _JSON not in accept.lower():
        return False
    return _quality(accept, _JSON) > _quality(accept, _HTML)
