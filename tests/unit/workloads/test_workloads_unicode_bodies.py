"""Which JSON bodies are not Unicode text: what Python's parser takes but nothing can encode again."""

import pytest

from fabrikam.workloads.kit.unicode_bodies import not_unicode


@pytest.mark.parametrize(
    "body",
    [
        rb'{"owner": "\ud800"}',  # a lone high surrogate
        rb'{"owner": "a\udc00b"}',  # a lone low surrogate
        rb'{"owner": "\udc00\ud800"}',  # a pair the wrong way round
        rb'[{"tag": "ok"}, {"tag": "\uDBFF"}]',
    ],
)
def test_a_lone_surrogate_escape_is_named(body: bytes) -> None:
    reason = not_unicode(body)
    assert reason is not None
    assert "line 1 column" in reason


@pytest.mark.parametrize(
    "body",
    [
        b'{"owner": "acme"}',
        rb'{"owner": "\ud83d\udce6"}',  # a pair: one character
        rb'{"owner": "\\ud800"}',  # an escaped backslash: six characters of text
        rb'{"owner": "\u00e9"}',
        b'{"owner": ',  # not JSON at all: the route's own 422 says so
        b"",
    ],
)
def test_text_and_what_is_not_json_pass(body: bytes) -> None:
    assert not_unicode(body) is None
