"""The push webhook over real HTTP on loopback: who gets a reconcile, who gets 401/411/413, and
that a stranger's body is never read."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from reconciler.webhook import MAX_BODY, Webhook, github_signature

SECRET = b"s3cret-for-tests"
BODY = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


@pytest.fixture
def hook():
    calls: list[str] = []
    server = Webhook("127.0.0.1:0", secret=SECRET, on_hook=calls.append).start()
    server.calls = calls
    yield server
    server.stop()


def post(hook, headers, body=BODY):
    host, port = hook.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/", body=body, headers={"Content-Type": "application/json", **headers})
    answer = conn.getresponse()
    text = answer.read().decode()
    conn.close()
    return answer.status, text


def test_a_github_push_with_a_good_signature_triggers_a_reconcile(hook):
    status, _ = post(hook, {"X-Hub-Signature-256": github_signature(SECRET, BODY), "X-GitHub-Event": "push"})
    assert status == 202
    assert hook.calls == ["github"]


@pytest.mark.parametrize("signature", [
    github_signature(b"another secret", BODY),
    github_signature(SECRET, BODY + b" "),          # signed a different body
    github_signature(SECRET, BODY)[7:],             # without the sha256= prefix
    "sha256=",
])
def test_a_github_push_with_a_bad_signature_is_401_and_triggers_nothing(hook, signature):
    status, _ = post(hook, {"X-Hub-Signature-256": signature})
    assert status == 401
    assert hook.calls == []


def test_a_github_ping_is_answered_without_a_reconcile(hook):
    status, text = post(hook, {"X-Hub-Signature-256": github_signature(SECRET, BODY), "X-GitHub-Event": "ping"})
    assert (status, text.strip(), hook.calls) == (200, "pong", [])


@pytest.mark.parametrize("headers, status, calls", [
    ({"X-Gitlab-Token": SECRET.decode()}, 202, ["gitlab"]),
    ({"X-Gitlab-Token": "wrong"}, 401, []),
    ({"X-Spiderpool-Token": SECRET.decode()}, 202, ["token"]),
    ({"Authorization": "Bearer " + SECRET.decode()}, 202, ["token"]),
    ({"X-Spiderpool-Token": SECRET.decode()[:-1]}, 401, []),
    ({}, 401, []),
    ({"Authorization": "Basic " + SECRET.decode()}, 401, []),
])
def test_tokens(hook, headers, status, calls):
    assert post(hook, headers)[0] == status
    assert hook.calls == calls


def raw_request(hook, head: bytes, body: bytes = b"") -> bytes:
    """Send exactly `head` (+ `body`) and read the answer; never sends more than given."""
    with socket.create_connection(hook.server.server_address[:2], timeout=10) as conn:
        conn.sendall(head + body)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_without_credentials_is_refused_before_its_body_is_read(hook):
    # Announces 500 MB and sends none of it: the answer must come anyway, at once.
    answer = raw_request(hook, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 401") or answer.startswith(b"HTTP/1.1 401"), answer
    assert hook.calls == []


def test_a_body_past_the_size_bound_is_413_without_being_read(hook):
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\n"
            f"Content-Length: {MAX_BODY + 1}\r\n\r\n").encode()
    answer = raw_request(hook, head)
    assert b" 413 " in answer.split(b"\r\n")[0], answer
    assert hook.calls == []


def test_a_chunked_body_is_411(hook):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: s3cret-for-tests\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert b" 411 " in raw_request(hook, head, b"0\r\n\r\n").split(b"\r\n")[0]
    assert hook.calls == []


def test_many_hooks_at_once_are_all_answered(hook):
    statuses = []

    def one():
        statuses.append(post(hook, {"X-Gitlab-Token": SECRET.decode()})[0])

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert statuses == [202] * 20
    assert len(hook.calls) == 20   # the loop's Wakeup coalesces them; the server reports each
