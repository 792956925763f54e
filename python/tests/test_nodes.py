"""Pipelines of Python nodes: each kind (row-wise, batch, stateful class, async), wired by
parameter name beside native built-ins and SQL expressions; results equal plain Python's
on generated data for any batch size and partition count; stateful `__init__` counted;
async calls in flight bounded exactly."""

import asyncio
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import documents

import nodefusion


@nodefusion.node(output="shout")
def shout(text: str) -> str:
    return text.upper()


@nodefusion.node(output="chars", batch=True, returns=pa.int64())
def chars(shout: pa.Array) -> pa.Array:
    return pc.utf8_length(shout)


@nodefusion.node(output="bucket", batch=True, returns=pa.string())
class Bucket:
    """Stateful: a table built once per instance."""

    def __init__(self, edges=(0, 10, 20)):
        self.edges = edges

    def __call__(self, chars: pa.Array) -> list:
        return [None if n is None else sum(n >= edge for edge in self.edges) * "#" for n in chars.to_pylist()]


@nodefusion.node(output="signed")
def signed(score: int | None, words: int | None) -> str:
    """Takes None: called on null rows too."""
    return f"{score}/{words}"


words = nodefusion.builtin("word_count", inputs=["text"], output="words")
short = nodefusion.expression("words < 3", output="short")


def expected(table):
    """The pipeline's columns, computed in plain Python."""
    rows = []
    for text, score in zip(table.column("text").to_pylist(), table.column("score").to_pylist()):
        upper = None if text is None else text.upper()
        n = None if upper is None else len(upper)
        count = None if text is None else len(text.split())
        rows.append(
            {
                "shout": upper,
                "chars": n,
                "bucket": None if n is None else sum(n >= edge for edge in (0, 10, 20)) * "#",
                "words": count,
                "short": None if count is None else count < 3,
                "signed": f"{score}/{count}",
            }
        )
    return rows


@pytest.mark.parametrize("batch_size", [1, 7, 64, 5000])
@pytest.mark.parametrize("partitions", [1, 2, 3])
def test_results_equal_plain_pythons_for_any_batch_size_and_partition_count(batch_size, partitions):
    table = documents(300, seed=batch_size * 10 + partitions)
    pipeline = nodefusion.Pipeline([signed, short, Bucket, chars, words, shout], name="kinds")
    result = pipeline.map(table, batch_size=batch_size, partitions=partitions)
    columns = ["shout", "chars", "bucket", "words", "short", "signed"]
    got = result.to_arrow().select(columns).to_pylist()
    assert got == expected(table)
    assert result.to_arrow().column("id").to_pylist() == list(range(300))


def test_a_row_wise_node_skips_null_rows_unless_it_takes_none():
    @nodefusion.node
    def strict(text: str) -> int:
        return len(text)

    @nodefusion.node
    def lenient(text: str | None) -> int:
        return -1 if text is None else len(text)

    result = nodefusion.Pipeline([strict, lenient]).map({"text": ["ab", None, "abcd"]})
    assert result.to_pydict()["strict"] == [2, None, 4]
    assert result.to_pydict()["lenient"] == [2, -1, 4]


def test_inputs_are_parameters_by_name_or_given_columns():
    @nodefusion.node(inputs=["b", "a"])
    def minus(x: int, y: int) -> int:
        return x - y

    @nodefusion.node
    def plus(a: int, b: int) -> int:
        return a + b

    result = nodefusion.Pipeline([minus, plus]).map({"a": [1, 2], "b": [10, 20]}).to_pydict()
    assert result["minus"] == [9, 18]
    assert result["plus"] == [11, 22]


def test_return_types_come_from_annotations():
    @nodefusion.node
    def parts(text: str) -> list[str]:
        return text.split()

    @nodefusion.node
    def ratio(text: str) -> float:
        return len(text) / 2

    @nodefusion.node(returns=pa.int16())
    def small(text: str):
        return len(text)

    result = nodefusion.Pipeline([parts, ratio, small]).map({"text": ["a b", "c"]}).to_arrow()
    assert result.schema.field("parts").type == pa.list_(pa.string())
    assert result.schema.field("ratio").type == pa.float64()
    assert result.schema.field("small").type == pa.int16()
    assert result.column("parts").to_pylist() == [["a", "b"], ["c"]]


def test_a_node_without_a_type_is_refused_when_decorated():
    with pytest.raises(TypeError, match="names no Arrow type.*returns=pa.int64"):

        @nodefusion.node(batch=True)
        def untyped(text: pa.Array) -> pa.Array:
            return text


def test_a_stateful_class_is_built_once_per_instance_kept_between_runs_and_closed():
    events = []

    @nodefusion.node(output="tagged", max_concurrency=2)
    class Tagger:
        def __init__(self, tag="#"):
            events.append(("init", threading.get_ident()))
            self.tag = tag

        def __call__(self, text: str) -> str:
            return self.tag + text

        def close(self):
            events.append(("close", threading.get_ident()))

    table = documents(400)
    with nodefusion.Pipeline([Tagger]) as pipeline:
        result = pipeline.map(table, batch_size=16, partitions=4)
        again = pipeline.map(table, batch_size=16, partitions=4)
        assert not [event for event in events if event[0] == "close"]
    inits = [event for event in events if event[0] == "init"]
    assert len(inits) == 2
    assert result.summary.node("Tagger").instances == 2
    assert again.summary.node("Tagger").instances == 0
    assert again.to_pydict() == result.to_pydict()
    assert sorted(e for e in events if e[0] == "close") == sorted(("close", ident) for _, ident in inits)
    texts = table.column("text").to_pylist()
    assert result.to_pydict()["tagged"] == [None if t is None else "#" + t for t in texts]


def test_init_arguments_reach_the_class():
    @nodefusion.node(output="tagged", init={"tag": ">"})
    class Tagger:
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, text: str) -> str:
            return self.tag + text

    assert nodefusion.Pipeline([Tagger]).map({"text": ["a"]}).to_pydict()["tagged"] == [">a"]


def test_async_calls_in_flight_never_exceed_max_concurrency_and_reach_it():
    state = {"now": 0, "most": 0}

    @nodefusion.node(output="echo", max_concurrency=5)
    async def echo(text: str) -> str:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.005)
        state["now"] -= 1
        return text

    table = documents(300)
    result = nodefusion.Pipeline([echo]).map(table, batch_size=64, partitions=3)
    assert state["most"] == 5
    assert result.to_pydict()["echo"] == table.column("text").to_pylist()
    assert result.summary.node("echo").instances == 1


def test_an_async_call_that_takes_too_long_fails_its_row():
    @nodefusion.node(output="slow", timeout_ms=50, max_retries=0, on_error="null")
    async def slow(n: int) -> int:
        await asyncio.sleep(5 if n == 2 else 0)
        return n

    result = nodefusion.Pipeline([slow]).map({"n": [1, 2, 3]})
    assert result.to_pydict()["slow"] == [1, None, 3]
    assert "timeout_ms = 50" in result.summary.node("slow").first_failure


def test_an_async_call_that_fails_to_connect_is_tried_again_up_to_max_retries():
    tries = {}

    @nodefusion.node(output="answer", max_retries=2, on_error="null")
    async def flaky(n: int) -> int:
        tries[n] = tries.get(n, 0) + 1
        if tries[n] <= n:
            raise ConnectionRefusedError(f"try {tries[n]}")
        return n

    result = nodefusion.Pipeline([flaky]).map({"n": [0, 1, 2, 3]})
    assert result.to_pydict()["answer"] == [0, 1, 2, None]
    assert tries == {0: 1, 1: 2, 2: 3, 3: 3}
    assert "ConnectionRefusedError: try 3" in result.summary.node("flaky").first_failure


def test_a_batch_node_may_return_a_list_or_a_numpy_array():
    import numpy

    @nodefusion.node(batch=True, returns=pa.float64())
    def halves(n: pa.Array):
        return numpy.asarray(n.to_numpy(zero_copy_only=False), dtype=float) / 2

    @nodefusion.node(batch=True, returns=pa.string())
    def names(n: pa.Array):
        return [f"n{value}" for value in n.to_pylist()]

    result = nodefusion.Pipeline([halves, names]).map({"n": [2, 4, 6]}).to_pydict()
    assert result["halves"] == [1.0, 2.0, 3.0]
    assert result["names"] == ["n2", "n4", "n6"]


def test_outputs_select_the_columns_and_prune_the_rest():
    calls = []

    @nodefusion.node
    def unused(text: str) -> str:
        calls.append(text)
        return text

    result = nodefusion.Pipeline([shout, unused], outputs=["id", "shout"]).map({"id": [1], "text": ["a"]})
    assert result.to_pydict() == {"id": [1], "shout": ["A"]}
    assert calls == []


def test_explain_shows_which_nodes_run_natively_and_which_in_python():
    text = nodefusion.Pipeline([shout, words]).explain({"text": ["a b"]})
    assert "shout: shout(text) -> shout  [python test_nodes:shout, batch_size=8192]" in text
    assert "words: word_count(text) -> words  [native, batch_size=8192]" in text


def test_a_node_stays_callable_as_its_function():
    assert shout("abc") == "ABC"
    assert Bucket(edges=(0,))(pa.array([5])) == ["#"]


def test_a_python_node_with_batch_size_auto_picks_its_call_size():
    sizes = []

    @nodefusion.node(batch=True, returns=pa.int64(), batch_size="auto")
    def sized(n: pa.Array):
        sizes.append(len(n))
        return n

    result = nodefusion.Pipeline([sized]).map({"n": list(range(3000))}, partitions=1)
    assert result.to_pydict()["sized"] == list(range(3000))
    assert max(sizes) <= 1024 and sum(sizes) == 3000


def test_cache_readwrite_keeps_a_python_nodes_results_for_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NODEFUSION_CACHE", str(tmp_path))
    calls = []

    @nodefusion.node(cache="readwrite")
    def counted(text: str) -> int:
        calls.append(text)
        return len(text)

    table = {"text": ["a", "bb", "a", "ccc"]}
    first = nodefusion.Pipeline([counted]).map(table)
    assert len(calls) == 4
    second = nodefusion.Pipeline([counted]).map(table)
    assert second.to_pydict() == first.to_pydict() == {"text": table["text"], "counted": [1, 2, 1, 3]}
    assert len(calls) == 4


def test_hypernodes_nodes_run_as_nodefusion_nodes():
    import hypernodes

    @hypernodes.node(output_name="loud")
    def loud(text: str) -> str:
        return text.upper()

    def one(text: str) -> int:
        return len(text)

    def many(text: pa.Array) -> pa.Array:
        return pc.utf8_length(text)

    lengths = hypernodes.DualNode(output_name="length", singular=one, batch=many)
    result = nodefusion.Pipeline([loud, lengths]).map({"text": ["ab", "c"]}).to_arrow()
    assert result.to_pydict() == {"text": ["ab", "c"], "loud": ["AB", "C"], "length": [2, 1]}
    assert result.schema.field("length").type == pa.int64()


def test_row_nodes_over_numbers_run_without_numpy():
    # The package requires pyarrow, not NumPy: a user who installed only what it requires
    # (here, NumPy made unimportable in a fresh interpreter) still runs row-wise nodes over
    # integers and floats, with and without nulls.
    script = """
import sys
sys.modules["numpy"] = None
import nodefusion

@nodefusion.node
def scaled(n: int, x: float) -> float:
    return n * x

rows = nodefusion.Pipeline([scaled]).map({"n": [1, 2, 3], "x": [0.5, None, 2.0]})
print(rows.to_arrow().column("scaled").to_pylist())
"""
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[0.5, None, 6.0]"
