"""Every user-property operation, and their order (pure functions, no lake)."""

from __future__ import annotations

import json

import pytest

from growthos_pipeline.profiles import OPERATION_ORDER, apply_operations, fold


@pytest.mark.parametrize(
    ("before", "ops", "after"),
    [
        ({}, {"plan": "pro"}, {"plan": "pro"}),  # plain keys mean $set
        ({"plan": "free"}, {"$set": {"plan": "pro"}}, {"plan": "pro"}),
        ({}, {"$set_once": {"src": "ad"}}, {"src": "ad"}),
        ({"src": "ad"}, {"$set_once": {"src": "seo"}}, {"src": "ad"}),
        ({"src": None}, {"$set_once": {"src": "seo"}}, {"src": "seo"}),
        ({}, {"$add": {"n": 5}}, {"n": 5}),  # $add on missing = value
        ({"n": 2}, {"$add": {"n": -3}}, {"n": -1}),
        ({"n": 1.5}, {"$add": {"n": 1}}, {"n": 2.5}),
        ({"n": "text"}, {"$add": {"n": 1}}, {"n": "text"}),  # a non-number is left alone
        ({}, {"$append": {"t": "a"}}, {"t": ["a"]}),
        ({"t": ["a"]}, {"$append": {"t": ["b", "c"]}}, {"t": ["a", "b", "c"]}),
        ({"t": "x"}, {"$append": {"t": "y"}}, {"t": ["x", "y"]}),  # a scalar becomes a list
        ({}, {"$prepend": {"t": "a"}}, {"t": ["a"]}),
        ({"t": ["c"]}, {"$prepend": {"t": ["a", "b"]}}, {"t": ["a", "b", "c"]}),
        ({"t": ["a", "b", "a"]}, {"$remove": {"t": "a"}}, {"t": ["b"]}),
        ({"t": ["a", "b", "c"]}, {"$remove": {"t": ["a", "c"]}}, {"t": ["b"]}),
        ({"t": "a"}, {"$remove": {"t": "a"}}, {"t": "a"}),  # only lists lose items
        ({"a": 1, "b": 2}, {"$unset": ["a", "zz"]}, {"b": 2}),
        ({"a": 1, "b": 2}, {"$clearAll": True}, {}),
        ({"a": 1}, {"$clearAll": True, "$set": {"b": 2}}, {"b": 2}),  # clearAll, then set
        ({}, {"$set": {"a": 1}, "$set_once": {"a": 2}}, {"a": 1}),  # set before set_once
        ({}, {"$set": {"a": 1}, "$unset": ["a"]}, {}),  # unset last
        ({}, {"$append": {"t": "a"}, "$remove": {"t": "a"}}, {"t": []}),
    ],
)
def test_one_operation(before: dict, ops: dict, after: dict) -> None:
    assert apply_operations(before, ops) == after


def test_the_input_is_not_changed() -> None:
    before = {"t": ["a"]}
    apply_operations(before, {"$append": {"t": "b"}})
    assert before == {"t": ["a"]}


def test_operations_apply_in_event_order() -> None:
    texts = [
        json.dumps(x)
        for x in [
            {"$set": {"plan": "free"}},
            {"$set_once": {"plan": "ent"}},  # after $set: nothing
            {"$clearAll": True},
            {"$set_once": {"plan": "pro"}},  # after clearAll: sets again
            {"$add": {"n": 1}},
            {"$add": {"n": 1}},
            {"$append": {"t": "a"}},
            {"$prepend": {"t": "z"}},
            {"$remove": {"t": "a"}},
            {"$unset": ["gone"]},
        ]
    ]
    assert fold(texts) == {"plan": "pro", "n": 2, "t": ["z"]}
    # order matters: the same operations reversed give another profile
    assert fold(list(reversed(texts))) != fold(texts)


def test_bad_json_and_nulls_are_skipped() -> None:
    assert fold([None, "", "{not json", '{"a": 1}', "[1, 2]"]) == {"a": 1}


def test_the_documented_order_is_the_applied_order() -> None:
    assert OPERATION_ORDER[0] == "$clearAll" and OPERATION_ORDER[-1] == "$unset"
