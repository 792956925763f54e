"""Pipeline files with Python nodes (`python = "module:function"` or `"file.py:function"`),
through the installed `nodefusion` command and `nodefusion.Pipeline.from_file`: the node's
settings apply, a node with a native equal runs natively with no Python at all, `explain`
says which runs how, and an import error names the module and where it was looked for."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import documents

import nodefusion

COMMAND = Path(sys.executable).parent / "nodefusion"

STEPS = """
import os
import pyarrow as pa
import nodefusion

def shout(text: str) -> str:
    return text.upper()

@nodefusion.node(output="pid", batch_size=16)
def where(id: int) -> int:
    return os.getpid()

def never(text: str) -> str:
    raise AssertionError("the native equal runs instead")
"""


def write_pipeline(directory, nodes, name="p"):
    """A pipeline file over 300 generated documents, writing `out.parquet`."""
    pq.write_table(documents(300), directory / "docs.parquet")
    (directory / "steps.py").write_text(STEPS)
    path = directory / f"{name}.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "{name}"
            [input]
            path = "{directory / 'docs.parquet'}"
            [output]
            path = "{directory / 'out.parquet'}"
            mode = "overwrite"
            [defaults]
            batch_size = 32
            partitions = 2
            """
        )
        + nodes
    )
    return path


def command(*arguments, cwd):
    return subprocess.run([str(COMMAND), *arguments], capture_output=True, text=True, cwd=cwd)


def test_the_installed_command_runs_a_pipeline_file_with_python_nodes(tmp_path):
    nodes = """
[[nodes]]
name = "loud"
python = "steps.py:shout"
inputs = ["text"]

[[nodes]]
name = "where"
python = "steps:where"
isolation = "process"
"""
    path = write_pipeline(tmp_path, nodes)
    ran = command("run", str(path), "--quiet", cwd="/")
    assert ran.returncode == 0, ran.stderr
    assert "p: 300 rows in, 300 rows out" in ran.stdout
    assert "instances 2" in ran.stdout
    table = pq.read_table(tmp_path / "out.parquet")
    texts = documents(300).column("text").to_pylist()
    assert table.column("loud").to_pylist() == [None if t is None else t.upper() for t in texts]
    pids = set(table.column("pid").to_pylist())
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_node_with_a_native_equal_runs_natively_with_no_python(tmp_path):
    nodes = """
[[nodes]]
name = "words"
python = "steps:never"
native = "word_count"
inputs = ["text"]

[[nodes]]
name = "missing"
python = "no_such_module:anything"
native = "normalize_text"
inputs = ["text"]
"""
    path = write_pipeline(tmp_path, nodes)
    explained = command("explain", str(path), cwd="/")
    assert explained.returncode == 0, explained.stderr
    assert "words: word_count(text) -> words  [native, for python steps:never, batch_size=32]" in explained.stdout
    ran = command("run", str(path), "--quiet", cwd="/")
    assert ran.returncode == 0, ran.stderr
    table = pq.read_table(tmp_path / "out.parquet")
    texts = documents(300).column("text").to_pylist()
    assert table.column("words").to_pylist() == [None if t is None else len(t.split()) for t in texts]


def test_explain_shows_python_nodes_and_their_isolation(tmp_path):
    path = write_pipeline(tmp_path, '[[nodes]]\nname = "loud"\npython = "steps.py:shout"\n')
    explained = command("explain", str(path), cwd="/")
    assert "loud: shout(text) -> loud  [python steps.py:shout, batch_size=32]" in explained.stdout
    assert "isolation=thread (python steps.py:shout)" in explained.stdout


def test_a_pipeline_file_runs_from_python_too(tmp_path):
    path = write_pipeline(tmp_path, '[[nodes]]\nname = "loud"\npython = "steps.py:shout"\ninputs = ["text"]\n')
    pipeline = nodefusion.Pipeline.from_file(path)
    summary = pipeline.run()
    assert (summary.rows_in, summary.rows_out) == (300, 300)
    assert summary.node("loud").rows == 300
    mapped = pipeline.map({"text": ["a", "b"]}, batch_size=1)
    assert mapped.to_pydict()["loud"] == ["A", "B"]


def test_an_import_error_names_the_module_and_where_it_was_looked_for(tmp_path):
    path = write_pipeline(tmp_path, '[[nodes]]\nname = "lost"\npython = "not_there:fn"\ninputs = ["text"]\n')
    ran = command("run", str(path), cwd="/")
    assert ran.returncode == 1
    assert ran.stderr.startswith("error: node 'lost': ModuleNotFoundError: no module named 'not_there' (looked in ")
    assert str(tmp_path) in ran.stderr
    with pytest.raises(nodefusion.NodefusionError, match="no module named 'not_there'"):
        nodefusion.Pipeline.from_file(path).run()


def test_a_missing_function_lists_what_the_module_has(tmp_path):
    path = write_pipeline(tmp_path, '[[nodes]]\nname = "lost"\npython = "steps.py:shuot"\n')
    ran = command("run", str(path), cwd="/")
    assert ran.returncode == 1
    assert "module 'steps.py' has no 'shuot' (it has: " in ran.stderr and "shout" in ran.stderr


def test_the_command_without_python_nodes_is_the_plain_command(tmp_path):
    ran = command("functions", cwd=tmp_path)
    assert ran.returncode == 0
    assert "normalize_text" in ran.stdout
