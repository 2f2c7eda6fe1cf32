"""Every test runs with local data sources only: its own empty data cache and
keras cache, and a download URL on 127.0.0.1 where nothing answers. A test
that downloads starts its own server (test_download.py). $CPP_GRAD_MNIST, the
full set the workplace provides, is left as it is for the tests that train."""

import socket

import pytest


@pytest.fixture(scope="session")
def refused_url():
    """An http URL on 127.0.0.1 whose port is bound but never listens, so a
    connection is refused at once (and no other process can take the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mnist.npz"


@pytest.fixture(autouse=True)
def local_data_sources(monkeypatch, tmp_path_factory, refused_url):
    monkeypatch.setenv("CPP_GRAD_DATA_DIR", str(tmp_path_factory.mktemp("data_cache")))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", refused_url)
