"""exo dying mid-answer (its process killed or restarted: the chunked body stops unfinished):
the client's stream ends with a failure frame that says so, in the framing of exo's own
failures mid-answer (Anthropic's error event on /v1/messages), and the usage record says exo
broke the answer off."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import AsyncClient

from models_app.models import UsageRecord
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)
FIRST = {"id": "c1", "object": "chat.completion", "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "The sky"}}]}


class DyingExo(BaseHTTPRequestHandler):
    """Answers a stream's first chunk, then its process is gone: no closing chunk."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = f"data: {json.dumps(FIRST)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dying_exo(settings) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DyingExo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EXO_API_URL = f"http://127.0.0.1:{server.server_port}"
    yield settings.EXO_API_URL
    server.shutdown()
    server.server_close()


def streamed(path: str, token: str) -> str:
    async def scenario() -> str:
        response = await AsyncClient().post(
            path, content_type="application/json", headers={"Authorization": f"Bearer {token}"},
            data=json.dumps({"model": "llama-3.2-1b", "stream": True, "max_tokens": 20,
                             "messages": [{"role": "user", "content": "Why is the sky blue?"}]}))
        assert response.status_code == 200
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    return run_async(scenario())


def test_a_chat_stream_exo_broke_off_ends_with_exos_failure_frame(dying_exo, alice_token,
                                                                  guide_models):
    text = streamed("/v1/chat/completions", alice_token)
    assert text.startswith(f"data: {json.dumps(FIRST)}\n\n")  # what exo sent, passed on
    *_, failure, done, _ = text.split("\n\n")
    error = json.loads(failure.removeprefix("data: "))["error"]
    assert error["code"] == 502 and error["message"].startswith("exo broke the answer off (")
    assert "was exo restarted?" in error["message"] and done == "data: [DONE]"
    record = UsageRecord.objects.get()
    assert record.status == "failed" and record.error.startswith("exo broke the answer off: ")


def test_a_messages_stream_exo_broke_off_ends_with_an_error_event(dying_exo, alice_token,
                                                                  guide_models):
    text = streamed("/v1/messages", alice_token)
    *_, last, _ = text.split("\n\n")
    event, data = last.split("\n")
    assert event == "event: error"
    body = json.loads(data.removeprefix("data: "))
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert body["error"]["message"].startswith("exo broke the answer off (")
