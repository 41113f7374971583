"""Hostile input to the web API: every invalid request is a 422 with one reason, never a
500, whatever the body holds (non-finite numbers, lone surrogates, bytes that are not
UTF-8), and the server only believes X-Forwarded-For when told to.

Runs the real app (FastAPI TestClient; the test client re-raises nothing, so a handler
bug shows as the 500 a browser would see) and, for the proxy header, a live
`crowdzero serve`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_web_api import GENEROUS, SIZE, new_game, tiny_run

from crowdzero.train.run_dir import RunDir
from crowdzero.web.app import create_app
from crowdzero.web.schemas import clean_nickname

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    return tiny_run(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(run: RunDir) -> Iterator[TestClient]:
    with TestClient(create_app(run, GENEROUS), raise_server_exceptions=False) as c:
        yield c


def refused_with_one_reason(response: Any) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"nickname": "a", "size": 1e309}', "size"),
        (b'{"nickname": "a", "size": -1e309}', "size"),
        (b'{"nickname": "a", "size": NaN}', "size"),
        (b'{"nickname": "a", "size": 5.0}', "size"),
        (b'{"nickname": "a", "size": true}', "size"),
        (b'{"nickname": "a\\ud800", "size": 5}', "surrogate"),
        (b'{"nickname": "a", "size": 5, "colour": "\\udfff"}', "surrogate"),
        (b'{"nickname": "\xff\xfe", "size": 5}', "UTF-8"),
        (b'{"nickname": "\\u3164", "size": 5}', "looks blank"),
        (b'{"nickname": "a\\u2800b", "size": 5}', "looks blank"),
        (b"{not json", "JSON"),
    ],
)
def test_a_new_game_request_that_json_cannot_echo_is_a_422_with_the_reason(
    client: TestClient, body: bytes, reason: str
) -> None:
    detail = refused_with_one_reason(client.post("/api/games", content=body, headers=JSON))
    assert reason in detail


@pytest.mark.parametrize(
    "body",
    [
        '{"token": "\\ud800", "move": "C3"}',
        '{"token": "TOKEN", "move": "\\ud800"}',
        '{"token": "TOKEN", "move": "C\\udc003"}',
    ],
)
def test_a_move_or_token_with_a_lone_surrogate_is_a_422(client: TestClient, body: str) -> None:
    game = new_game(client)
    content = body.replace("TOKEN", game["token"]).encode()
    url = f"/api/games/{game['game_id']}/move"
    assert "surrogate" in refused_with_one_reason(client.post(url, content=content, headers=JSON))
    url = f"/api/games/{game['game_id']}/resign"
    refused_with_one_reason(client.post(url, content=content, headers=JSON))
    assert client.get(f"/api/games/{game['game_id']}").json()["moves"] == []


def test_bad_paths_and_queries_are_a_422_with_the_reason(client: TestClient) -> None:
    assert "game_id" in refused_with_one_reason(client.get("/api/games/%FF%FE"))
    assert "store_id" in refused_with_one_reason(client.get("/api/history/1e309"))
    game = new_game(client)
    url = f"/api/games/{game['game_id']}"
    assert "since" in refused_with_one_reason(client.get(url, params={"since": "1e309"}))
    assert "wait" in refused_with_one_reason(client.get(url, params={"wait": "-1"}))


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None), max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_bodies = st.dictionaries(
    st.sampled_from(["nickname", "size", "colour", "token", "move", "extra"]),
    _json_values,
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies, raw=st.binary(max_size=40), path=st.sampled_from(["games", "move", "resign"]))
def test_no_body_ever_gets_a_server_error(
    client: TestClient, body: dict[str, Any], raw: bytes, path: str
) -> None:
    """Arbitrary JSON (non-finite numbers, surrogates, nesting) and arbitrary bytes to
    every body-taking endpoint: a known answer with one reason, never a 500."""
    game_id = "nosuchgame"
    url = "/api/games" if path == "games" else f"/api/games/{game_id}/{path}"
    text = json.dumps(body, allow_nan=True, ensure_ascii=True)
    for content in (text.encode(), raw):
        response = client.post(url, content=content, headers=JSON)
        assert response.status_code in (201, 404, 409, 422, 429), response.text
        detail = response.json().get("detail")
        assert detail is None or isinstance(detail, str)


_segments = (
    st.text(st.characters(codec="utf-8"), max_size=16).map(lambda t: quote(t, safe=""))
    | st.sampled_from(["", "0", "-1", "1", "1e309", "nan", "%FF", "%00", "..", "%2e%2e%2f", "%"])
    | st.text(alphabet=st.sampled_from(list("%/.?#&=;09AFaz-_~")), max_size=12)
)
_queries = st.dictionaries(
    st.sampled_from(["since", "wait", "nickname", "limit", "x"]),
    st.text(st.characters(codec="utf-8"), max_size=12) | _segments,
    max_size=3,
)
_urls = [
    "/api/games/{}",
    "/api/games/{}/sgf",
    "/api/games/{}/move",
    "/api/games/{}/resign",
    "/api/history",
    "/api/history/{}",
    "/api/history/{}/sgf",
    "/api/info{}",
    "/static/{}",
    "/{}",
]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    url=st.sampled_from(_urls),
    segment=_segments,
    query=_queries,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
)
def test_no_path_or_query_ever_gets_a_server_error(
    client: TestClient, url: str, segment: str, query: dict[str, str], method: str
) -> None:
    """Arbitrary (percent-encoded) path segments and query strings on every route, with
    every method: a known answer, and an error says its one reason; never a 500. The ids
    are never real, so no long poll waits."""
    response = client.request(method, url.format(segment), params=query)
    assert response.status_code < 500, (url.format(segment), query, response.text)
    if response.status_code >= 400 and method != "HEAD":
        detail = response.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail, detail


def test_blank_looking_nicknames_are_refused() -> None:
    for blank in ("\u3164", "\u2800", "\u115f\u1160", "\uffa0", "a\u3164b"):
        with pytest.raises(ValueError, match="looks blank"):
            clean_nickname(blank)
    assert clean_nickname("\u30b3\u30a6") == "\u30b3\u30a6"  # real letters still pass


# ---------------------------------------------------------------------- a live server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={**JSON, **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@pytest.mark.timeout(180)
def test_a_local_client_cannot_dodge_the_per_client_limits_with_x_forwarded_for(
    run: RunDir,
) -> None:
    """uvicorn believes X-Forwarded-For from loopback by default; crowdzero serve does not
    (unless --forwarded-allow-ips names the proxy), so five open games per client holds."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "crowdzero.cli", "serve", str(run.path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                urllib.request.urlopen(f"{base}/api/info", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never came up"
                time.sleep(0.5)
        codes = [
            _post(
                f"{base}/api/games",
                {"nickname": f"p{i}", "size": SIZE},
                {"X-Forwarded-For": f"203.0.113.{i}"},
            )
            for i in range(7)
        ]
    finally:
        server.terminate()
        server.wait(30)
    assert codes[:5] == [201] * 5
    assert codes[5:] == [429, 429]
