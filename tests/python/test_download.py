"""load_mnist() downloading into cpp_grad's cache, against a server on
127.0.0.1 that each test starts (conftest.py keeps every other test local).

The good-data tests serve the canonical set ($CPP_GRAD_MNIST, which CI sets):
the check is against the canonical MD5s, so nothing smaller passes it."""

import gzip
import io
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cpp_grad.datasets import MnistUnavailableError, load_mnist, write_idx

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "data" / "mnist_small.npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class Server:
    """Serves ``routes`` (path -> bytes) on 127.0.0.1; a path in ``cut``
    announces its full length and closes the connection halfway."""

    def __init__(self):
        self.routes, self.cut, self.requests = {}, set(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def canonical():
    """The canonical set as arrays, from $CPP_GRAD_MNIST (read before any test
    changes the environment)."""
    path = os.environ.get("CPP_GRAD_MNIST")
    if not path or not path.endswith(".npz") or not Path(path).is_file():
        pytest.skip("needs the canonical mnist.npz in $CPP_GRAD_MNIST")
    with np.load(path) as archive:
        return {key: archive[key] for key in KEYS}, Path(path).read_bytes()


@pytest.fixture
def data_dir(monkeypatch):
    """The per-test data cache conftest.py set; no $CPP_GRAD_MNIST."""
    monkeypatch.delenv("CPP_GRAD_MNIST", raising=False)
    return Path(os.environ["CPP_GRAD_DATA_DIR"])


def npz_bytes(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def idx_gz_routes(arrays, base: str, tmp_path) -> dict:
    routes = {}
    for key, name in IDX_NAMES.items():
        write_idx(tmp_path / name, arrays[key])
        routes[f"{base}/{name}.gz"] = gzip.compress((tmp_path / name).read_bytes(), compresslevel=1)
    return routes


def assert_equal_sets(loaded, arrays):
    (x_train, y_train), (x_test, y_test) = loaded
    for key, got in zip(KEYS, (x_train, y_train, x_test, y_test)):
        np.testing.assert_array_equal(got, arrays[key])


def altered(arrays):
    """Right shapes, dtypes and label range, wrong bytes: one pixel changed."""
    wrong = {key: value.copy() for key, value in arrays.items()}
    wrong["x_test"][1234, 14, 14] ^= 0x40
    return wrong


def test_keras_npz_is_fetched_verified_and_cached(server, canonical, data_dir, monkeypatch):
    arrays, npz = canonical
    server.routes["/datasets/mnist.npz"] = npz
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/datasets/mnist.npz")
    assert_equal_sets(load_mnist(), arrays)
    assert sorted(p.name for p in data_dir.iterdir()) == ["mnist.npz"]
    assert (data_dir / "mnist.npz").read_bytes() == npz  # keras' own file, as served

    server.stop()  # the second call needs no server
    assert_equal_sets(load_mnist(), arrays)
    assert server.requests == ["/datasets/mnist.npz"]


def test_idx_gz_folder_is_fetched_verified_and_cached(server, canonical, data_dir, monkeypatch, tmp_path):
    arrays, _ = canonical
    server.routes.update(idx_gz_routes(arrays, "/mirror/mnist", tmp_path))
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/mirror/mnist")  # a base URL, no slash
    assert_equal_sets(load_mnist(), arrays)
    assert sorted(p.name for p in data_dir.iterdir()) == ["mnist.npz"]

    server.stop()
    assert_equal_sets(load_mnist(), arrays)
    assert sorted(server.requests) == sorted(server.routes)


@pytest.mark.parametrize("layout", ["npz", "idx"])
def test_right_shapes_wrong_bytes_is_refused_and_not_cached(
    server, canonical, data_dir, monkeypatch, tmp_path, layout
):
    wrong = altered(canonical[0])
    if layout == "npz":
        server.routes["/mnist.npz"] = npz_bytes(wrong)
        url = server.url + "/mnist.npz"
    else:
        server.routes.update(idx_gz_routes(wrong, "/idx", tmp_path))
        url = server.url + "/idx/"
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", url)
    with pytest.raises(ValueError) as info:
        load_mnist()
    message = str(info.value)
    assert url in message and "t10k-images-idx3-ubyte" in message
    assert "2646ac647ad5339dbf082846283269ea" in message and "nothing was cached" in message
    assert list(data_dir.iterdir()) == []


def test_small_fixture_is_not_canonical_mnist(server, data_dir, monkeypatch):
    """Runs without the full set: a valid keras-layout file of other data."""
    server.routes["/mnist.npz"] = FIXTURE.read_bytes()
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/mnist.npz")
    with pytest.raises(ValueError, match="MD5") as info:
        load_mnist()
    assert server.url in str(info.value)
    assert list(data_dir.iterdir()) == []


def test_not_an_npz_is_refused(server, data_dir, monkeypatch):
    server.routes["/mnist.npz"] = b"<html>a captive portal</html>"
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/mnist.npz")
    with pytest.raises(ValueError, match="not an .npz archive") as info:
        load_mnist()
    assert server.url in str(info.value)
    assert list(data_dir.iterdir()) == []


def test_dead_port_gives_the_offline_message(data_dir):
    url = os.environ["CPP_GRAD_MNIST_URL"]  # conftest's: nothing listens there
    with pytest.raises(MnistUnavailableError) as info:
        load_mnist()
    message = str(info.value)
    assert "\n" not in message
    for part in ("CPP_GRAD_MNIST", url, str(data_dir / "mnist.npz"), "Connection refused"):
        assert part in message
    assert "CPP_GRAD_MNIST=/path/to/mnist.npz" in message and "--data" in message
    assert list(data_dir.iterdir()) == []


def test_missing_file_on_server_gives_the_offline_message(server, data_dir, monkeypatch):
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/nowhere/")
    with pytest.raises(MnistUnavailableError, match="404"):
        load_mnist()
    assert list(data_dir.iterdir()) == []


def test_interrupted_transfer_leaves_no_partial_file(server, data_dir, monkeypatch):
    server.routes["/mnist.npz"] = FIXTURE.read_bytes()
    server.cut.add("/mnist.npz")
    monkeypatch.setenv("CPP_GRAD_MNIST_URL", server.url + "/mnist.npz")
    with pytest.raises(MnistUnavailableError):
        load_mnist()
    assert len(server.requests) > 1  # pooch retried
    assert list(data_dir.iterdir()) == []


def test_main_job_offline_says_what_to_do_in_one_line(data_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train_mnist.py"), "--json", str(tmp_path / "r.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith("cpp_grad: ")]
    assert len(lines) == 1, result.stderr
    assert "CPP_GRAD_MNIST=/path/to/mnist.npz" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "r.json").exists()
