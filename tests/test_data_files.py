"""Reading user files: every row comes through, and every problem names file, line and column."""

from __future__ import annotations

import pytest
from conftest import write_tsv
from taskrun.data import read_table, sorted_label_names
from taskrun.errors import DataError


def test_tsv_with_bom_and_unmatched_quotes_keeps_every_row(tmp_path):
    path = write_tsv(tmp_path / "t.tsv", ["a", "b"], [['he said "hi', "1"], ['"', "0"], ["plain", "1"]], bom=True)
    table = read_table(path)
    assert table.columns == ["a", "b"]  # no BOM glued to the first name
    assert [r["a"] for r in table.rows] == ['he said "hi', '"', "plain"]
    assert table.lines == [2, 3, 4]


def test_csv_quotes_and_line_numbers_across_multiline_fields(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('text,label\n"one, two",a\n"multi\nline",b\nlast,c\n', encoding="utf-8")
    table = read_table(path)
    assert table.column("text") == ["one, two", "multi\nline", "last"]
    assert table.lines == [2, 3, 5]


def test_malformed_row_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine,a\ntoo,many,fields\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"(?s)bad.csv: 1 malformed row.*line 3: 3 fields, expected 2"):
        read_table(path)


def test_non_utf8_names_line_and_column_and_encoding_option_reads_it(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nok,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv:3:4: not valid utf-8 .*0xe9") as info:
        read_table(path)
    assert "--encoding" in str(info.value)
    assert read_table(path, encoding="latin-1").column("text") == ["ok", "café"]


def test_jsonl_values_come_back_as_written(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b\\u2028c", "label": "x"}\n', encoding="utf-8")
    table = read_table(path)
    assert table.column("label") == ["1", "x"] and table.column("text") == ["a", "b\u2028c"]
    assert table.lines == [1, 3]


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_table(tmp_path / "data.xlsx")


def test_label_order_is_numeric_for_integers_and_alphabetic_otherwise():
    assert sorted_label_names(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sorted_label_names(["pos", "neg", "neutral"]) == ["neg", "neutral", "pos"]


def test_custom_csv_missing_column_lists_columns_and_suggests(cli, reviews_csv, tmp_path):
    out = tmp_path / "run"
    result = cli(
        "run",
        "custom-csv",
        "--train",
        reviews_csv,
        "--text-column",
        "reviews",
        "--label-column",
        "stars",
        "--model",
        "embedded",
        "--output-dir",
        out,
    )
    assert result.exit_code == 2
    assert "no column 'reviews' (named by --text-column)" in result.stderr
    assert "'id', 'review', 'stars'" in result.stderr and "Did you mean 'review'?" in result.stderr
    assert not out.exists()


def test_custom_csv_missing_file(cli, tmp_path):
    result = cli(
        "run", "custom-csv", "--train", tmp_path / "absent.csv", "--model", "embedded", "--output-dir", tmp_path / "run"
    )
    assert result.exit_code == 2 and "absent.csv: no such file" in result.stderr


def test_custom_csv_validation_label_unseen_in_training_is_named(cli, tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\n")
    (tmp_path / "dev.csv").write_text("text,label\nc,x\nd,z\n")
    result = cli(
        "run",
        "custom-csv",
        "--train",
        tmp_path / "train.csv",
        "--validation",
        tmp_path / "dev.csv",
        "--model",
        "embedded",
        "--output-dir",
        tmp_path / "run",
    )
    assert result.exit_code == 2
    assert "dev.csv: 1 label(s) that the training file does not have (line 3: 'z')" in result.stderr


def test_glue_folder_label_out_of_range_names_line(cli, tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    write_tsv(folder / "train.tsv", ["sentence", "label"], [["good", "1"], ["bad", "2"]])
    write_tsv(folder / "dev.tsv", ["sentence", "label"], [["fine", "1"]])
    result = cli("run", "sentiment", "--data-dir", folder, "--model", "embedded", "--output-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert "train.tsv:3: column 'label': label '2' is not one of 0 (negative), 1 (positive)" in result.stderr
