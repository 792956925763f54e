"""SQL from Python: tables from pyarrow, pandas, dicts and files; results read by any Arrow
consumer, as pyarrow, pandas or rows; every nodefusion function there; Python nodes as SQL
functions; errors as exceptions that say what is wrong."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nodefusion


def test_a_query_over_a_pyarrow_table_uses_nodefusions_functions(docs):
    result = nodefusion.sql(
        "SELECT id, normalize_text(text) AS clean, word_count(text) AS words FROM docs ORDER BY id",
        docs=docs,
    ).to_arrow()
    texts = docs.column("text").to_pylist()
    assert result.column("id").to_pylist() == list(range(docs.num_rows))
    assert result.column("words").to_pylist() == [None if t is None else len(t.split()) for t in texts]
    assert result.column("clean").to_pylist()[:3] == [
        None if t is None else " ".join(t.lower().replace("-", " ").split()) for t in texts[:3]
    ]


def test_a_pandas_frame_is_a_table_and_a_result_is_a_pandas_frame():
    frame = pd.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "people": [3, 4, 5]}, index=[10, 20, 30])
    result = nodefusion.sql(
        "SELECT city, sum(people) AS people FROM visits GROUP BY city ORDER BY city", visits=frame
    ).to_pandas()
    assert list(result.columns) == ["city", "people"]
    assert result.to_dict("list") == {"city": ["Lima", "Oslo"], "people": [4, 8]}


def test_dicts_and_lists_of_rows_are_tables():
    session = nodefusion.Session()
    session.register("a", {"x": [1, 2, 3]})
    session.register("b", [{"x": 2, "y": "two"}, {"x": 3, "y": "three"}])
    rows = session.sql("SELECT a.x, b.y FROM a JOIN b ON a.x = b.x ORDER BY a.x").to_pylist()
    assert rows == [{"x": 2, "y": "two"}, {"x": 3, "y": "three"}]
    assert session.tables() == ["a", "b"]


def test_a_result_streams_to_any_arrow_consumer_through_the_capsule_interface(docs):
    result = nodefusion.sql("SELECT id, text FROM docs WHERE id < 50", docs=docs)
    reader = pa.RecordBatchReader.from_stream(result)
    assert reader.schema.names == ["id", "text"]
    assert reader.read_all().num_rows == 50
    assert pa.table(result).num_rows == 50
    assert result.columns == ["id", "text"]


def test_a_result_is_lazy_and_read_again_computes_again():
    session = nodefusion.Session()
    session.register("t", {"x": [1, 2]})
    result = session.sql("SELECT sum(x) AS s FROM t")
    assert result.to_pylist() == [{"s": 3}]
    session.register("t", {"x": [10, 20]})
    assert session.sql("SELECT sum(x) AS s FROM t").to_pylist() == [{"s": 30}]


def test_files_register_by_path_and_queries_read_paths(tmp_path, docs):
    path = tmp_path / "docs.parquet"
    pq.write_table(docs, path)
    session = nodefusion.Session().register("docs", path)
    assert session.sql("SELECT count(*) AS n FROM docs").to_pylist() == [{"n": docs.num_rows}]
    by_path = nodefusion.sql(f"SELECT count(text) AS n FROM '{path}'").to_pylist()
    assert by_path == [{"n": docs.num_rows - docs.column("text").null_count}]


def test_embed_is_there_and_gives_384_dimensional_vectors():
    result = nodefusion.sql("SELECT embed(text) AS v FROM t", t={"text": ["a river", "a node"]}).to_arrow()
    vectors = result.column("v").to_pylist()
    assert [len(vector) for vector in vectors] == [384, 384]
    assert vectors[0] != vectors[1]


def test_a_python_node_is_a_sql_function_of_its_session():
    @nodefusion.node
    def shout(text: str) -> str:
        return text.upper() + "!"

    session = nodefusion.Session().register("t", {"text": ["a", None, "c"]})
    session.register_function(shout)
    assert session.sql("SELECT shout(text) AS s FROM t").to_pydict() == {"s": ["A!", None, "C!"]}


def test_bad_sql_and_unknown_tables_raise_nodefusion_errors():
    with pytest.raises(nodefusion.NodefusionError, match="nowhere"):
        nodefusion.sql("SELECT * FROM nowhere")
    with pytest.raises(nodefusion.NodefusionError, match="(?i)sql|parser|expected"):
        nodefusion.sql("SELEC 1")


def test_data_that_is_not_a_table_is_refused_naming_the_table():
    with pytest.raises(TypeError, match="table 'numbers': expected Arrow data"):
        nodefusion.sql("SELECT 1", numbers=42)


def test_head_len_and_repr_compute_only_what_they_show(docs):
    result = nodefusion.sql("SELECT id FROM docs ORDER BY id", docs=docs)
    assert len(result) == docs.num_rows
    assert result.head(3).to_pydict() == {"id": [0, 1, 2]}
    shown = repr(result)
    assert shown.endswith("\n...") and shown.count("\n") == 11
