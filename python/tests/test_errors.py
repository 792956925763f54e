"""Errors of Python nodes: an exception names the node, the function, the input row and the
exception with its last frames; `on_error="null"` nulls the failing rows and counts them;
a wrong return type or length, a class whose `__init__` fails, a bad setting are refused
saying what is wrong; Ctrl-C stops a run promptly."""

import signal
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

import nodefusion


def run(node, table, **settings):
    return nodefusion.Pipeline([node]).map(table, **settings)


@nodefusion.node(output="inverse")
def inverse(n: int) -> float:
    return 1 / n


def test_an_exception_names_node_function_row_and_the_frames_that_raised():
    with pytest.raises(nodefusion.NodeError) as failure:
        run(inverse, {"n": [4, 2, 0, 1]}, batch_size=2, partitions=2)
    error = failure.value
    assert (error.node, error.function, error.row) == ("inverse", "inverse", 2)
    message = str(error)
    assert message.startswith("node 'inverse' (inverse) failed on input row 2: ZeroDivisionError: division by zero")
    assert 'test_errors.py", line' in message and "in inverse" in message
    assert "return 1 / n" in message


def test_on_error_null_nulls_only_the_failing_rows_and_counts_them():
    result = run(inverse.with_options(on_error="null"), {"n": [4, 0, 2, 0]}, batch_size=3, partitions=1)
    assert result.to_pydict()["inverse"] == [0.25, None, 0.5, None]
    summary = result.summary.node("inverse")
    assert summary.failed_rows == 2
    assert summary.first_failure.startswith("failed on input row 1: ZeroDivisionError")


def test_a_batch_function_that_raises_is_narrowed_to_its_first_failing_row():
    @nodefusion.node(batch=True, returns=pa.float64())
    def inverses(n: pa.Array):
        return [1 / value for value in n.to_pylist()]

    with pytest.raises(nodefusion.NodeError) as failure:
        run(inverses, {"n": [1, 2, 3, 0, 5]}, batch_size=5)
    assert failure.value.row == 3
    assert "ZeroDivisionError" in failure.value.cause


def test_a_value_of_the_wrong_type_fails_its_row_naming_value_and_type():
    @nodefusion.node
    def count(text: str) -> int:
        return text if text == "oops" else len(text)

    with pytest.raises(nodefusion.NodeError) as failure:
        run(count, {"text": ["ab", "oops", "c"]})
    assert failure.value.row == 1
    assert "returned 'oops' (str), not a value of the node's type int64" in str(failure.value)


def test_a_batch_of_the_wrong_length_or_type_is_refused_saying_so():
    @nodefusion.node(batch=True, returns=pa.int64())
    def short(n: pa.Array):
        return [1]

    with pytest.raises(nodefusion.NodeError, match="returned 1 values for a batch of 3 rows"):
        run(short, {"n": [1, 2, 3]})

    @nodefusion.node(batch=True, returns=pa.int64())
    def words(n: pa.Array):
        return pa.array(["a"] * len(n))

    with pytest.raises(nodefusion.NodeError, match="returned string values, which do not cast to the node's type int64"):
        run(words, {"n": [1, 2]})


def test_a_class_whose_init_fails_names_the_node_and_its_frames():
    @nodefusion.node(output="x")
    class Broken:
        def __init__(self):
            raise RuntimeError("no model here")

        def __call__(self, n: int) -> int:
            return n

    with pytest.raises(nodefusion.NodeError) as failure:
        run(Broken, {"n": [1]})
    assert str(failure.value).startswith("node 'Broken' (Broken) could not start: RuntimeError: no model here")
    assert 'raise RuntimeError("no model here")' in str(failure.value)


def test_a_bad_setting_names_the_node_and_the_setting():
    with pytest.raises(nodefusion.NodefusionError, match="node 'inverse': bad option 'isolation'.*'thread' or 'process'"):
        run(inverse.with_options(isolation="fork"), {"n": [1]})
    with pytest.raises(TypeError, match="unknown node setting 'batchsize'"):
        nodefusion.node(batchsize=3)(lambda n: n)


def test_a_missing_column_names_the_node_and_the_nearest_column():
    with pytest.raises(nodefusion.NodefusionError, match="node 'inverse': unknown column 'n' \\(did you mean 'nn'\\?\\)"):
        run(inverse, {"nn": [1]})


def test_ctrl_c_stops_a_run_promptly(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            import nodefusion

            @nodefusion.node
            def slow(n: int) -> int:
                time.sleep(0.05)
                return n

            print("started", flush=True)
            try:
                nodefusion.Pipeline([slow]).map({"n": list(range(2000))}, batch_size=10)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(0)
            print("finished", flush=True)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "started"
    import time

    time.sleep(1)
    process.send_signal(signal.SIGINT)
    # The run has about 100 s of work left; interrupted, it ends at once.
    output, _ = process.communicate(timeout=60)
    assert output.strip() == "interrupted"
    assert process.returncode == 0
