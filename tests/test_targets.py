"""Targets: a real ``deployready serve`` on loopback, asked for predictions through the
protocol client, and recognised by what it answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from loadtest_models import make_workspace
from test_serve import Server, start_server

from deployready.errors import InputError
from deployready.loadtest.targets import TargetError, base_url, connect, detect
from deployready.package.load import load_package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, version = make_workspace(tmp_path_factory.mktemp("targets-ws"))
    return root / "models" / version


@pytest.fixture(scope="module")
def server(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(package, tmp_path_factory.mktemp("targets-server"))


def test_base_url_drops_known_endpoints() -> None:
    for url in ("http://127.0.0.1:9/", "http://127.0.0.1:9/predict",
                "http://127.0.0.1:9/invocations", "http://127.0.0.1:9/v2"):
        assert base_url(url) == "http://127.0.0.1:9"


def test_our_server_is_detected_and_predicts_the_holdout(server: Server,
                                                         package: Path) -> None:
    assert detect(server.url) == "deployready"
    target = connect(server.url + "/predict")
    assert target.protocol.name == "deployready" and target.ready()
    loaded = load_package(package)
    got = target.predict(loaded.request_rows(20))
    np.testing.assert_allclose(got, loaded.expected[:20], atol=1e-9)
    assert target.identity()["package_sha256"] == loaded.sha256


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nothing_listening_cannot_be_detected_and_says_what_was_tried() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(TargetError, match="cannot tell which protocol") as info:
        connect(url)
    for probe in ("/health", "/v2", "/version", "/readyz", "--protocol"):
        assert probe in str(info.value)


def test_the_wrong_protocol_is_an_error_naming_the_url(server: Server) -> None:
    target = connect(server.url, "mlflow")
    assert not target.ready()
    with pytest.raises(TargetError, match="/invocations answered HTTP 404"):
        target.predict([{"amount": 1.0}])


def test_oip_without_a_model_name_on_a_server_without_an_index(server: Server) -> None:
    with pytest.raises((TargetError, InputError), match="model"):
        connect(server.url, "oip")
