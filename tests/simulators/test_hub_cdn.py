"""The CDN the simulated Hub redirects LFS downloads to: signed links on another origin that
expire, refuse a token, and serve ranges."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.hub.cdn import Cdn, CdnDenied
from simulators.hub.server import HubServer
from simulators.hub.state import SimState

from .conftest import HUB_GATED_REPO, HUB_REPO, HUB_TOKEN

SHARD = "model-00001-of-00002.safetensors"
RESOLVE = f"/{HUB_REPO}/resolve/main/{SHARD}"


def link(hub_http: httpx.Client, path: str = RESOLVE, **headers: str) -> str:
    response = hub_http.head(path, headers=headers, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_an_lfs_file_answers_302_to_a_signed_link_on_another_origin(
    hub_http: httpx.Client, hub_server: HubServer, hub_state: SimState, method: str
) -> None:
    response = hub_http.request(method, RESOLVE, follow_redirects=False)

    file = hub_state.store.repos[HUB_REPO].files[SHARD]
    sha256 = hub_state.store.sha256(file)
    assert response.status_code == 302
    assert response.headers["x-repo-commit"] == hub_state.store.repos[HUB_REPO].commit
    assert response.headers["x-linked-etag"] == response.headers["etag"] == f'"{sha256}"'
    assert response.headers["x-linked-size"] == str(file.size)
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == hub_server.cdn_url != hub_server.url
    repo_hash = hashlib.sha256(HUB_REPO.encode()).hexdigest()
    assert location.path == f"/repos/{repo_hash[:2]}/{repo_hash[2:4]}/{repo_hash}/{sha256}"
    query = parse_qs(location.query)
    assert set(query) == {"response-content-disposition", "Expires", "Signature", "Key-Pair-Id"}
    assert SHARD in query["response-content-disposition"][0]
    assert hub_state.counters.file(HUB_REPO, SHARD).redirects == 1


def test_small_files_are_served_by_the_hub_itself(hub_http: httpx.Client) -> None:
    response = hub_http.get(f"/{HUB_REPO}/resolve/main/config.json", follow_redirects=False)

    assert response.status_code == 200 and "location" not in response.headers


def test_the_link_serves_ranges_of_the_file_without_a_token(
    hub_http: httpx.Client, hub_state: SimState
) -> None:
    url = link(hub_http, f"/{HUB_GATED_REPO}/resolve/main/model.safetensors",
               Authorization=f"Bearer {HUB_TOKEN}")
    whole = httpx.get(url, timeout=10)

    part = httpx.get(url, headers={"Range": "bytes=100-199"}, timeout=10)

    file = hub_state.store.repos[HUB_GATED_REPO].files["model.safetensors"]
    assert hashlib.sha256(whole.content).hexdigest() == hub_state.store.sha256(file)
    assert whole.headers["content-disposition"].startswith("attachment; ")
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{file.size}"


def test_a_link_sent_with_a_token_is_refused_as_s3_refuses_it(hub_http: httpx.Client) -> None:
    url = link(hub_http)

    response = httpx.get(url, headers={"Authorization": f"Bearer {HUB_TOKEN}"}, timeout=10)

    assert response.status_code == 400
    assert b"Only one auth mechanism allowed" in response.content


def test_expired_links_are_refused_and_the_hub_signs_fresh_ones(
    hub_http: httpx.Client, hub_state: SimState
) -> None:
    old = link(hub_http)
    assert hub_http.post("/_sim/cdn/expire").json() == {"expired": True}

    refused = httpx.get(old, timeout=10)
    fresh = httpx.get(link(hub_http), timeout=10)

    assert refused.status_code == 403
    assert b"<Code>AccessDenied</Code>" in refused.content
    assert fresh.status_code == 200
    assert hub_state.counters.routes["cdn_denied"] == 1


def test_a_forged_signature_or_expiry_is_refused(hub_http: httpx.Client) -> None:
    url = link(hub_http)
    expires = re.search(r"Expires=(\d+)", url)
    assert expires is not None
    later = url.replace(expires.group(0), f"Expires={int(expires.group(1)) + 3600}")

    assert httpx.get(later, timeout=10).status_code == 403
    assert httpx.get(re.sub(r"Signature=[^&]+", "Signature=x", url), timeout=10).status_code == 403


def test_links_last_their_ttl() -> None:
    now = [1000.0]
    cdn = Cdn(ttl=60, clock=lambda: now[0])
    cdn.port = 9
    url = urlsplit(cdn.location("127.0.0.1", "org/repo", "a/b.safetensors", "ab" * 32))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}

    now[0] = 1059.0
    found = cdn.check(url.path, params)
    now[0] = 1060.0
    with pytest.raises(CdnDenied):
        cdn.check(url.path, params)

    assert params["Expires"] == "1060"
    assert found is not None and (found.repo_id, found.path) == ("org/repo", "a/b.safetensors")


def test_the_cdn_port_serves_only_links(hub_server: HubServer) -> None:
    for path in ("/_sim/info", "/api/models", RESOLVE):
        assert httpx.get(f"{hub_server.cdn_url}{path}", timeout=10).status_code == 404


def test_the_link_lifetime_can_be_read_and_set(hub_http: httpx.Client) -> None:
    assert hub_http.get("/_sim/cdn").json()["ttl_seconds"] == 3600.0

    assert hub_http.put("/_sim/cdn", json={"ttl_seconds": 5}).json()["ttl_seconds"] == 5.0

    for body in ({"ttl_seconds": 0}, {"ttl_seconds": "long"}, {}, [1]):
        response = hub_http.put("/_sim/cdn", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"
    assert hub_http.get("/_sim/info").json()["cdn"]["ttl_seconds"] == 5.0
