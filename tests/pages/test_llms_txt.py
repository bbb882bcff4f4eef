"""``/llms.txt``: the llms.txt shape, every operation of the OpenAPI document, examples that
compile, caching."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.llms_txt import QUERY_EXAMPLES, operations
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.guard import check


def test_llms_txt_follows_the_convention(client: TestClient) -> None:
    response = client.get("/llms.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    lines = response.text.splitlines()
    # An H1 with the name, then a blockquote summary, then sections.
    assert lines[0] == "# GrowthOS Pipeline"
    assert lines[1] == ""
    assert lines[2].startswith("> ")
    assert sum(1 for line in lines if line.startswith("# ")) == 1
    sections = [line[3:] for line in lines if line.startswith("## ")]
    assert sections == [
        "Credentials",
        "Errors",
        "Sending events",
        "Protocol adapters",
        "Query language",
        "Pages",
        "Operations",
    ]
    # Links are absolute, under the deployment's public URL.
    links = re.findall(r"\]\(([^)]+)\)", response.text)
    assert links and all(link.startswith("http://127.0.0.1:8000/") for link in links)
    assert "http://127.0.0.1:8000/openapi.json" in links


def test_llms_txt_lists_every_operation_of_the_openapi_document(client: TestClient) -> None:
    text = client.get("/llms.txt").text
    document = client.get("/openapi.json").json()
    listed = re.findall(r"^- `([A-Z]+) (\S+)` \(([a-z_0-9]+)\)", text, flags=re.MULTILINE)
    expected = [
        (method.upper(), path, operation["operationId"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert sorted(listed) == sorted(expected)
    assert len(listed) == len(set(listed))
    assert ("POST", "/v1/query", "run_query") in listed
    assert ("GET", "/v1/orgs", "list_orgs") in listed
    # Aliases and pages are not operations of the contract.
    assert not any(path.startswith("/api/") for _, path, _ in listed)
    assert not any(path in ("/", "/login", "/console", "/llms.txt") for _, path, _ in listed)
    # Each line says what the operation does, from its docstring when it has one.
    assert "- `POST /v1/query` (run_query): Run a query." in text


def test_operations_of_a_small_document() -> None:
    document = {
        "paths": {
            "/v1/things": {
                "get": {"operationId": "list_things", "tags": ["things"], "summary": "List Things"},
                "post": {
                    "operationId": "create_thing",
                    "tags": ["things"],
                    "description": "A new ``thing``,\nwith its key.\n\nMore detail.",
                },
                "parameters": [],
            }
        }
    }
    assert operations(document) == [
        ("things", "GET", "/v1/things", "list_things", "List things"),
        ("things", "POST", "/v1/things", "create_thing", "A new `thing`, with its key."),
    ]


def test_the_query_examples_compile_and_pass_the_guard() -> None:
    assert len(QUERY_EXAMPLES) >= 5
    for example in QUERY_EXAMPLES:
        compiled = compile_query(example, "proj_example")
        check(compiled.tree, "proj_example")


def test_the_query_examples_are_in_the_text(client: TestClient) -> None:
    text = client.get("/llms.txt").text
    for example in QUERY_EXAMPLES:
        assert f"    {example}\n" in text


def test_llms_txt_is_cached_and_revalidated(client: TestClient) -> None:
    first = client.get("/llms.txt")
    assert first.headers["cache-control"] == "public, max-age=3600"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = client.get("/llms.txt", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/llms.txt", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.text == first.text


def test_llms_txt_answers_head(client: TestClient) -> None:
    response = client.head("/llms.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["etag"] == client.get("/llms.txt").headers["etag"]
