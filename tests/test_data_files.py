"""Reading user files: every row comes through, and every problem names file, line and column."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import socket
import threading
import zipfile

import pytest
import taskrun.data
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


def run_custom_csv(cli, model, train, out):
    return cli(
        "run",
        "custom-csv",
        "--model",
        model,
        "--train",
        train,
        "--output-dir",
        out,
        "--epochs",
        "1",
        "--precision",
        "fp32",
    )


def labelled_lines(n=12):
    return "".join(f"the film was {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n" for i in range(n))


# 1. Headerless files: columns= names the columns, the first line is data.


def test_headerless_tsv_first_line_is_data(tmp_path):
    path = tmp_path / "in_domain_train.tsv"  # GLUE CoLA: no header line
    path.write_text('gj04\t1\t\tOur friends won\'t buy this.\n\ngj04\t0\t*\tThey drank the "pub".\n', encoding="utf-8")
    table = read_table(path, columns=["source", "label", "mark", "sentence"])
    assert table.columns == ["source", "label", "mark", "sentence"]
    assert table.column("sentence") == ["Our friends won't buy this.", 'They drank the "pub".']
    assert table.column("mark") == ["", "*"]
    assert table.lines == [1, 3]


def test_headerless_rows_must_have_as_many_fields_as_names(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("a,1\nb,2,extra\n\nc\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short.csv: 2 malformed row\(s\) \(2 columns given: text, label\)") as info:
        read_table(path, columns=("text", "label"))
    assert "line 2: 3 fields, expected 2" in str(info.value) and "line 4: 1 fields, expected 2" in str(info.value)


def test_headerless_jsonl_keeps_the_named_keys_and_requires_them(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1, "id": 7}\n{"label": 0, "text": "b"}\n{"text": "c"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:3: record has no field 'label'"):
        read_table(path, columns=["text", "label"])
    path.write_text('{"text": "a", "label": 1, "id": 7}\n{"label": 0, "text": "b"}\n', encoding="utf-8")
    table = read_table(path, columns=["label", "text"])
    assert table.columns == ["label", "text"]
    assert table.rows == [{"label": "1", "text": "a"}, {"label": "0", "text": "b"}]


def test_columns_with_a_name_twice_is_a_programming_error(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\tc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"columns: 'a' appears twice \(positions 1 and 3\)"):
        read_table(path, columns=["a", "b", "a"])
    with pytest.raises(TypeError, match="not the string"):
        read_table(path, columns="abc")


# 2. Duplicate column names in a header line.


def test_duplicate_header_name_is_refused_with_its_positions(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("id,text,label,source, text\n1,a,pos,web,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"/reviews.csv:1: column 'text' appears twice \(columns 2 and 5\)"):
        read_table(path)
    path = tmp_path / "blank_first.tsv"
    path.write_text("\nx\tx\tx\n1\t2\t3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"blank_first.tsv:2: column 'x' appears 3 times \(columns 1, 2 and 3\)"):
        read_table(path)


def test_cli_duplicate_header_name_exits_2_before_any_output(cli, tiny_model, tmp_path):
    train = tmp_path / "dup.csv"
    train.write_text("text,label,text\n" + labelled_lines().replace("\n", ",x\n"), encoding="utf-8")
    result = run_custom_csv(cli, tiny_model, train, tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert "dup.csv:1: column 'text' appears twice (columns 1 and 3)" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


# 3. Decoding errors are placed where an editor shows them: BOM not counted, columns in characters.


@pytest.mark.parametrize(
    ("data", "where", "byte"),
    [
        (b"\xef\xbb\xbf" + b"".join(b"row %d,x\n" % i for i in range(1, 40)) + b"\xff,y\n", "40:1", "0xff"),
        (b"\xef\xbb\xbfab\xe9,c\n", "1:3", "0xe9"),
        (b"\xef\xbb\xbfa,b\r\nc,d\r\n\xe9,x\r\n", "3:1", "0xe9"),
        (b"a,b\r\nc,d\xe9\r\n", "2:4", "0xe9"),
        (b"a,b\nc,d\n\x80x,y\n", "3:1", "0x80"),
        ("text\ncafé über,\xff".encode("utf-8").replace(b"\xc3\xbf", b"\xff"), "2:11", "0xff"),
    ],
    ids=["bom-start-of-line-40", "bom-line-1", "bom-crlf", "crlf", "after-newline", "characters-not-bytes"],
)
def test_decoding_error_position(tmp_path, data, where, byte):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{where}: not valid utf-8 \(byte {byte}\)"):
        read_table(path)


# 4. A byte-order mark under another encoding.


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-8-sig"])
def test_utf8_bom_is_dropped_whatever_the_encoding(tmp_path, encoding):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfreview,label\nbon,1\n")
    table = read_table(path, encoding=encoding)
    assert table.columns == ["review", "label"] and table.column("review") == ["bon"]


def test_utf16_bom_says_the_file_is_utf16(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("text,label\ncafé,1\n".encode("utf-16"))
    for encoding in ("utf-8", "cp1252"):
        with pytest.raises(DataError, match="t.csv: starts with a UTF-16 byte-order mark, so it is UTF-16") as info:
            read_table(path, encoding=encoding)
        assert "--encoding utf-16" in str(info.value)
    assert read_table(path, encoding="utf-16").column("text") == ["café"]
    path.write_bytes("\ufefftext,label\ncafé,1\n".encode("utf-16-le"))
    assert read_table(path, encoding="utf-16-le").columns == ["text", "label"]
    path.write_bytes("\ufeffab".encode("utf-16-le") + b"\x00\xdc")  # a lone low surrogate, after 2 characters
    with pytest.raises(DataError, match=r"t.csv:1:3: not valid utf-16-le"):
        read_table(path, encoding="utf-16-le")


# 5. gzip-compressed files.


def test_gzip_files_are_read_with_the_format_before_gz(tmp_path):
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(b'text,label\n"a, b",1\n'))
    (tmp_path / "data.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x", "label": 0}\n'))
    (tmp_path / "dev.TSV.GZ").write_bytes(gzip.compress(b'text\tlabel\n"q\t1\n'))
    assert read_table(tmp_path / "train.csv.gz").rows == [{"text": "a, b", "label": "1"}]
    assert read_table(tmp_path / "data.jsonl.gz").rows == [{"text": "x", "label": "0"}]
    assert read_table(tmp_path / "dev.TSV.GZ").rows == [{"text": '"q', "label": "1"}]


def test_truncated_corrupt_or_plain_gz_names_the_file(tmp_path):
    data = gzip.compress(b"text,label\n" + b"some text,1\n" * 200)
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.csv.gz: the gzip data is truncated"):
        read_table(tmp_path / "cut.csv.gz")
    broken = bytearray(data)
    broken[-6] ^= 0xFF  # the CRC
    (tmp_path / "crc.csv.gz").write_bytes(bytes(broken))
    with pytest.raises(DataError, match="crc.csv.gz: the gzip data is corrupt"):
        read_table(tmp_path / "crc.csv.gz")
    (tmp_path / "plain.csv.gz").write_text("text,label\n")
    with pytest.raises(DataError, match="plain.csv.gz: not gzip-compressed"):
        read_table(tmp_path / "plain.csv.gz")
    with pytest.raises(DataError, match=r"data.gz: cannot tell the format from the extension '' before '.gz'"):
        read_table(tmp_path / "data.gz")


def test_cli_trains_on_a_gzipped_csv(cli, tiny_model, tmp_path):
    train = tmp_path / "train.csv.gz"
    train.write_bytes(gzip.compress(("text,label\n" + labelled_lines()).encode()))
    result = run_custom_csv(cli, tiny_model, train, tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "model.safetensors").is_file()


# 6. Binary files: no --encoding advice, say what the file looks like.


def xlsx_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (xlsx_bytes(), "an Excel workbook (.xlsx)"),
        (gzip.compress(b"text,label\n"), "a gzip-compressed file"),
        (b"PAR1" + bytes(range(40)) + b"PAR1", "a Parquet file"),
        (b"text,label\nok,1\n\x00\x00\x07\x00", "binary data (a NUL byte at byte offset 16)"),
    ],
    ids=["xlsx", "gzip-without-gz", "parquet", "nul"],
)
def test_binary_file_is_named_as_such(tmp_path, data, looks_like):
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    with pytest.raises(DataError, match="data.csv: a binary file, not CSV text: it looks like ") as info:
        read_table(path)
    assert looks_like in str(info.value) and "latin-1" not in str(info.value)


def test_zip_archive_lists_what_it_holds(tmp_path):
    path = tmp_path / "data.tsv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.tsv", "a\tb\n")
    with pytest.raises(
        DataError, match="data.tsv: a binary file, not TSV text: it looks like a zip archive holding train.tsv"
    ):
        read_table(path)


def test_cli_xlsx_saved_as_csv_says_save_it_as_csv(cli, tiny_model, tmp_path):
    train = tmp_path / "train.csv"
    train.write_bytes(xlsx_bytes())
    result = run_custom_csv(cli, tiny_model, train, tmp_path / "o")
    assert result.exit_code == 2
    assert "train.csv: a binary file, not CSV text: it looks like an Excel workbook (.xlsx)" in result.stderr
    assert "Save the sheet as CSV" in result.stderr and "--encoding" not in result.stderr
    assert not (tmp_path / "o").exists()


# 7. Anything but a regular file is refused at once.


@pytest.fixture
def fifo(tmp_path):
    """A named pipe. Should a reader block on it, a writer opens and closes it after a few seconds,
    so that such a reader gets end-of-file and fails its test instead of hanging the suite."""
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)

    def unblock():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader waiting: nothing to unblock
            pass

    timer = threading.Timer(5, unblock)
    timer.start()
    yield path
    timer.cancel()


def test_fifo_is_refused_without_reading_it(fifo):
    with pytest.raises(DataError, match=r"pipe.csv: not a regular file but a named pipe \(FIFO\)"):
        read_table(fifo)


def test_folder_socket_and_device_are_refused(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="folder.csv: not a regular file but a folder"):
        read_table(tmp_path / "folder.csv")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.csv"))
        with pytest.raises(DataError, match="s.csv: not a regular file but a socket"):
            read_table(tmp_path / "s.csv")
    with pytest.raises(DataError, match="/dev/null: not a regular file but a character device"):
        read_table("/dev/null", "csv")


def test_cli_fifo_exits_2_at_once(cli, tiny_model, fifo, tmp_path):
    result = run_custom_csv(cli, tiny_model, fifo, tmp_path / "o")
    assert result.exit_code == 2 and "pipe.csv: not a regular file but a named pipe (FIFO)" in result.stderr
    assert not (tmp_path / "o").exists()


# 8. Fields longer than the csv module's default limit of 131,072 characters.


@pytest.mark.parametrize("name", ["long.csv", "long.tsv"])
def test_a_field_longer_than_the_csv_default_limit_loads(tmp_path, name):
    document = "word " * 60_000  # 300,000 characters
    path = tmp_path / name
    sep = "\t" if name.endswith("tsv") else ","
    path.write_text(f"text{sep}label\nshort{sep}0\n{document}{sep}1\n", encoding="utf-8")
    before = csv.field_size_limit()
    assert read_table(path).column("text") == ["short", document]
    assert csv.field_size_limit() == before  # the process-wide limit is put back


def test_a_field_over_the_limit_names_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(taskrun.data, "FIELD_SIZE_LIMIT", 1000)
    path = tmp_path / "q.csv"
    path.write_text('text,label\nok,1\n"never closed,1\n' + "more,2\n" * 300, encoding="utf-8")
    with pytest.raises(DataError, match=r"q.csv:3: a field longer than 1,000 characters") as info:
        read_table(path)
    assert "unclosed quote" in str(info.value)
