"""Process isolation (`isolation="process"`): each instance in a worker process of its own,
the stateful object living there; results as in threads, for any batch size and partition
count; a worker that dies is replaced and its batch tried again, or the run fails saying
how it died."""

import os

import pyarrow as pa
import pytest
from conftest import documents

import nodefusion


@nodefusion.node(output="pid", isolation="process")
def pid(id: int) -> int:
    return os.getpid()


@nodefusion.node(output="digits", isolation="process")
def digits(text: str) -> int:
    return sum(character.isalpha() for character in text * 3)


@nodefusion.node(output="described", batch=True, returns=pa.string(), isolation="process")
class Describe:
    def __init__(self):
        self.pid = os.getpid()

    def __call__(self, text: pa.Array, score: pa.Array):
        return [f"{t}:{s}:{self.pid != 0}" for t, s in zip(text.to_pylist(), score.to_pylist())]


def test_each_instance_runs_in_a_worker_process_of_its_own():
    table = documents(400)
    result = nodefusion.Pipeline([pid]).map(table, batch_size=20, partitions=3)
    pids = set(result.to_pydict()["pid"])
    assert len(pids) == 3
    assert os.getpid() not in pids
    assert result.summary.node("pid").instances == 3


@pytest.mark.parametrize("batch_size,partitions", [(1, 2), (33, 3), (1000, 1)])
def test_results_in_processes_equal_plain_pythons(batch_size, partitions):
    table = documents(250, seed=batch_size)
    result = nodefusion.Pipeline([digits, Describe]).map(table, batch_size=batch_size, partitions=partitions)
    texts = table.column("text").to_pylist()
    scores = table.column("score").to_pylist()
    assert result.to_pydict()["digits"] == [
        None if t is None else sum(c.isalpha() for c in t * 3) for t in texts
    ]
    assert result.to_pydict()["described"] == [f"{t}:{s}:True" for t, s in zip(texts, scores)]


def test_a_pipeline_default_puts_every_python_node_in_processes():
    @nodefusion.node
    def where(id: int) -> int:
        return os.getpid()

    result = nodefusion.Pipeline([where], isolation="process").map({"id": [1, 2]})
    assert os.getpid() not in result.to_pydict()["where"]


def test_a_worker_that_dies_once_is_replaced_and_the_batch_tried_again(tmp_path):
    marker = tmp_path / "died"

    @nodefusion.node(output="survived", isolation="process")
    def fragile(id: int) -> int:
        if id == 5 and not marker.exists():
            marker.write_text("once")
            os._exit(3)
        return id * 2

    result = nodefusion.Pipeline([fragile]).map({"id": list(range(10))}, batch_size=4)
    assert result.to_pydict()["survived"] == [i * 2 for i in range(10)]
    assert marker.exists()


def test_a_worker_that_dies_twice_on_a_batch_fails_the_run_saying_how():
    @nodefusion.node(output="never", isolation="process")
    def doomed(id: int) -> int:
        if id == 3:
            os._exit(7)
        return id

    with pytest.raises(nodefusion.NodeError) as failure:
        nodefusion.Pipeline([doomed]).map({"id": list(range(6))}, batch_size=2)
    message = str(failure.value)
    assert "node 'doomed'" in message
    assert "died" in message and "exit status: 7" in message


def test_a_function_that_cannot_be_pickled_is_refused_saying_so():
    import threading

    lock = threading.Lock()

    @nodefusion.node(output="locked", isolation="process")
    def locked(id: int) -> int:
        with lock:
            return id

    with pytest.raises(nodefusion.NodeError, match="cannot be pickled"):
        nodefusion.Pipeline([locked]).map({"id": [1]})
