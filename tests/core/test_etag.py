"""If-None-Match as plain calls: lists, weak tags, ``*``, and no substring matches."""

from __future__ import annotations

from gateway.core.etag import none_match


def test_lists_weak_tags_and_star_match():
    assert none_match('"a", "b"', '"b"')
    assert none_match('W/"b"', '"b"')
    assert none_match("*", '"z"')


def test_no_header_another_tag_or_a_substring_does_not_match():
    assert not none_match(None, '"a"')
    assert not none_match('"ab"', '"a"')
    assert not none_match('"xyz", "a-b"', '"a"')
