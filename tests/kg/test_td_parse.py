"""Strict JSON parsing of vendors' files (kg.jsonparse)."""
from kg.jsonparse import parse_json


def test_bom_is_accepted():
    parsed = parse_json(b'\xef\xbb\xbf{"title": "x"}')
    assert parsed.ok and parsed.data == {"title": "x"}


def test_syntax_error_has_line_and_column():
    parsed = parse_json(b'{\n  "title": "x"\n  "id": 1\n}')
    assert not parsed.ok
    assert parsed.errors[0].field == "line 3, column 3"
    assert parsed.errors[0].kind == "json-syntax"


def test_comments_and_trailing_commas_are_rejected_with_a_hint():
    comment = parse_json(b'{\n  // vendor note\n  "title": "x"\n}')
    assert comment.errors[0].kind == "not-strict-json" and "--lenient" in comment.errors[0].message
    trailing = parse_json(b'{"a": [1, 2,], "b": 1}')
    assert trailing.errors[0].kind == "not-strict-json" and "trailing comma" in trailing.errors[0].message


def test_lenient_mode_accepts_json5_with_a_warning():
    parsed = parse_json(b'{\n  // note\n  "title": "x",\n}', lenient=True)
    assert parsed.ok and parsed.data == {"title": "x"} and parsed.lenient_used
    assert [w.kind for w in parsed.warnings] == ["not-strict-json"]
    assert not parse_json(b'{"type": number}', lenient=True).ok


def test_duplicate_keys_warn_with_their_path_and_the_last_value_wins():
    parsed = parse_json(b'{"properties": {"status": {"type": "string"}, "status": {"type": "number"}}}')
    assert parsed.ok
    assert parsed.data["properties"]["status"] == {"type": "number"}
    assert [(w.kind, w.field, w.severity) for w in parsed.warnings] == [("duplicate-key", "properties.status", "warning")]


def test_not_utf8_is_an_encoding_error():
    assert parse_json(b'{"title": "\xff"}').errors[0].kind == "encoding"
    assert parse_json(b"\xff\xfe{\x00}\x00").errors[0].kind == "encoding"
