"""Reading a ``POST /predict`` request: the body parsed into rows and their client ids,
or a 4xx :class:`RequestError` naming the field (``body``, ``content-type``, ``rows``,
``rows[i].field``, ``ids``, ``ids[i]``), under 1 KB whatever the request held.

**Request ids.** A body may carry ``"ids"``: one client id per row, in the rows' order —
each a string of 1 to :data:`MAX_ID_CHARS` printable ASCII characters without spaces
(``!`` to ``~``), unique within the request. Without ids the server draws one per row
(:func:`new_ids`: 32 random hex digits). The answer returns them next to the
predictions and the prediction log keeps them (``request_id``): the key ground-truth
labels join on."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from deployready.errors import InputError
from deployready.package.rows import shorten


class RequestError(Exception):
    """A per-request failure with its HTTP status and error kind. The body's texts are
    cut to :data:`ERROR_FIELD_CHARS` each (see ``shorten``): an answer never echoes a
    request's megabyte back, and stays under 1 KB."""

    def __init__(self, status: int, kind: str, body: dict[str, Any]) -> None:
        body = {k: shorten(v, ERROR_FIELD_CHARS) if isinstance(v, str) else v
                for k, v in body.items()}
        super().__init__(body.get("error", kind))
        self.status = status
        self.kind = kind
        self.body = body

    def body_bytes(self) -> bytes:
        return json_bytes(self.body)


#: Longest text of one field of an error answer, once JSON-escaped.
ERROR_FIELD_CHARS = 240

EXPECTED_BODY = '{"rows": [{feature: value, ...}, ...]}'
#: The optional top-level keys besides ``rows``.
OPTIONAL_KEYS = ("ids",)
#: Longest client id.
MAX_ID_CHARS = 128
ID_EXPECTED = f"a string of 1 to {MAX_ID_CHARS} printable ASCII characters without spaces"
_ID = f"[!-~]{{1,{MAX_ID_CHARS}}}"
#: Every id of a request joined by newlines: one C-speed match checks them all.
_IDS = re.compile(f"{_ID}(?:\n{_ID})*")
_ONE_ID = re.compile(_ID)

_JSON_TYPE_NAMES: dict[type, str] = {str: "string", int: "number", float: "number",
                                     bool: "boolean", type(None): "null", list: "array"}


def _body_error(status: int, message: str, field: str = "body",
                expected: str = EXPECTED_BODY) -> RequestError:
    return RequestError(status, "validation",
                        {"error": message, "field": field, "expected": expected})


def check_content_type(value: bytes) -> None:
    """A declared media type must be JSON — ``application/json`` or ``application/*+json``,
    parameters (``charset=utf-8``) aside; 415 naming ``content-type`` otherwise. A request
    without the header is read as JSON."""
    if value == b"application/json":
        return
    media = value.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or (media.startswith(b"application/")
                                        and media.endswith(b"+json")):
        return
    shown = value.decode("latin-1")
    raise RequestError(415, "validation", {
        "error": f"content type {shorten(shown, 60)!r} is not JSON", "field": "content-type",
        "expected": "application/json"})


def parse_predict_body(body: bytes, max_rows: int) -> list[Any]:
    """The rows of a ``POST /predict`` body (see :func:`parse_predict_request`)."""
    return parse_predict_request(body, max_rows)[0]


def parse_predict_request(body: bytes, max_rows: int) -> tuple[list[Any], list[str] | None]:
    """The rows of a ``POST /predict`` body and its client ids (None: none sent), or a
    4xx :class:`RequestError` naming the problem: not UTF-8, not JSON, nested beyond what
    the parser recurses into (400); not an object, no ``rows`` or another key than
    ``ids``, ``rows`` not a non-empty list of at most ``max_rows``, ``ids`` not one
    valid, unique id per row (see :func:`check_ids`), a key repeated in the body or in a
    row, a row value that is not valid Unicode (422). The rows themselves are checked
    against the schema later, per batch.

    The common case costs two scans at C speed beyond ``json.loads``: a ``:`` count (one
    per key of the body and of its rows, unless a key repeats — a repeated key is
    otherwise lost silently by ``json.loads``) and a search for ``\\uD`` escapes (lone
    surrogates); only a body that fails them is looked at more closely.
    """
    text, data = _json_object(body)
    if "rows" not in data:
        raise _body_error(422, "missing 'rows'", field="rows")
    ids = data.get("ids")
    if len(data) > 1 + ("ids" in data):  # as strict as the rows: no silently ignored keys
        key = next(k for k in data if k != "rows" and k not in OPTIONAL_KEYS)
        raise _body_error(422, "unknown top-level key", field=_key(key),
                          expected='only "rows" and "ids": ' + EXPECTED_BODY)
    rows = data["rows"]
    if type(rows) is not list or not rows:
        raise _body_error(422, "'rows' must be a non-empty list", field="rows",
                          expected="a non-empty list of objects")
    if len(rows) > max_rows:
        raise _body_error(422, f"{len(rows)} rows in one request", field="rows",
                          expected=f"at most {max_rows} rows")
    if ids is not None or "ids" in data:
        check_ids(ids, len(rows))
    if "\\" in text and ("\\ud" in text or "\\uD" in text):  # no escape: memchr speed
        _check_unicode(rows)
    members = len(data)
    for row in rows:
        if type(row) is not dict:
            return rows, ids  # the schema check refuses this request, naming rows[i]
        members += len(row)
    if text.count(":") != members:  # a ':' in a string, a nested object, or a repeated key
        _check_repeated_keys(text)
    return rows, ids


def _json_object(body: bytes) -> tuple[str, dict[str, Any]]:
    """The body's text and its JSON object; 400 when not UTF-8 JSON (a byte order mark,
    nested too deeply), 422 when not an object."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(400, f"body is not valid JSON: not UTF-8 (byte "
                          f"0x{body[exc.start]:02x} at offset {exc.start})",
                          expected="JSON text in UTF-8") from None
    if text.startswith("\ufeff"):
        raise _body_error(400, "body is not valid JSON: it starts with a byte order mark")
    try:
        data = json.loads(text)
    except RecursionError:
        raise _body_error(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer beyond int's digit limit
        raise _body_error(400, f"body is not valid JSON: {_json_problem(exc)}") from None
    if type(data) is not dict:
        kind = _JSON_TYPE_NAMES.get(type(data), type(data).__name__)
        raise _body_error(422, f"body is a JSON {kind}, not an object")
    return text, data


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A body that must be one JSON object (see :func:`_json_object`)."""
    return _json_object(body)[1]


def check_ids(ids: Any, n_rows: int) -> None:
    """422 naming ``ids`` (not a list of one per row) or ``ids[i]`` (not a string, empty,
    too long, a character outside printable ASCII or a space, or the same as an earlier
    id). The common case is three C-speed passes: a type scan, one regular-expression
    match over all ids joined by newlines, and a set."""
    if type(ids) is not list or len(ids) != n_rows:
        got = f"{len(ids)} ids" if type(ids) is list else \
            f"a JSON {_JSON_TYPE_NAMES.get(type(ids), 'object')}"
        raise _body_error(422, f"{got} for {n_rows} rows", field="ids",
                          expected=f"a list of {n_rows} ids, one per row, in order")
    joined = "\n".join(ids) if all(type(i) is str for i in ids) else None
    if joined is not None and joined.count("\n") == n_rows - 1 and _IDS.fullmatch(joined):
        if len(set(ids)) == n_rows:
            return
        seen: dict[str, int] = {}
        for i, value in enumerate(ids):
            if value in seen:
                raise _body_error(422, f"the same id as ids[{seen[value]}]",
                                  field=f"ids[{i}]", expected="ids unique within a request")
            seen[value] = i
    for i, value in enumerate(ids):
        if type(value) is not str:
            kind = _JSON_TYPE_NAMES.get(type(value), "object")
            raise _body_error(422, f"a JSON {kind}, not a string", field=f"ids[{i}]",
                              expected=ID_EXPECTED)
        if not _ONE_ID.fullmatch(value):
            problem = ("empty" if not value else f"{len(value)} characters" if
                       len(value) > MAX_ID_CHARS else "a space or a character outside "
                       "printable ASCII")
            raise _body_error(422, f"id is {problem}", field=f"ids[{i}]",
                              expected=ID_EXPECTED)


def new_ids(n: int) -> list[str]:
    """``n`` fresh request ids: 32 random hex digits each (128 bits, as a uuid4), drawn
    from the OS in one call."""
    if n == 1:  # the common request: one row
        return [os.urandom(16).hex()]
    text = os.urandom(16 * n).hex()
    return [text[i:i + 32] for i in range(0, 32 * n, 32)]


_encode = json.JSONEncoder(separators=(",", ":")).encode


def ids_json(ids: list[str], drawn: bool) -> bytes:
    """The ids as a JSON array: drawn ones (hex digits, nothing to escape) joined
    directly, a client's through the encoder (``"`` and ``\\`` are printable ASCII)."""
    if drawn:
        return b'["' + '","'.join(ids).encode() + b'"]'
    return _encode(ids).encode()


def _key(key: str) -> str:
    """A top-level key as an error's ``field``: cut, and ``""`` for the empty key."""
    return shorten(key) or '""'


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if "integer string conversion" in str(exc):
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return shorten(str(exc))


def _check_unicode(rows: list[Any]) -> None:
    """422 naming the row value that holds a lone surrogate (``"\\ud800"``): valid JSON
    grammar, but not text, and nothing UTF-8 can store."""
    for i, row in enumerate(rows):
        if type(row) is not dict:
            continue
        for key, value in row.items():
            if type(value) is str and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise _body_error(422, "text is not valid Unicode (a lone surrogate)",
                                      field=f"rows[{i}].{shorten(key)}",
                                      expected="a string of Unicode characters") from None


class _Repeated(dict[str, Any]):
    """A JSON object that repeated a key (``key``: the first one repeated)."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    repeated = _Repeated(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _check_repeated_keys(text: str) -> None:
    """422 naming a key the body or one of its rows repeats (``json.loads`` keeps the
    last value; another parser may keep the first: the body has no single meaning)."""
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise _body_error(400, "body is not valid JSON: nested too deeply") from None
    expected = "each key once per object"
    if isinstance(data, _Repeated):
        raise _body_error(422, "duplicate key", field=_key(data.key), expected=expected)
    for i, row in enumerate(data["rows"]):
        if isinstance(row, _Repeated):
            raise _body_error(422, "duplicate key", field=f"rows[{i}].{shorten(row.key)}",
                              expected=expected)



def _input_error_body(exc: InputError) -> dict[str, Any]:
    return {"error": exc.message, "field": exc.location, "expected": exc.expected}


def request_error(exc: InputError) -> RequestError:
    """The 422 answer of a request whose rows do not fit the schema."""
    return RequestError(422, "validation", _input_error_body(exc))



def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
