"""Issue 15, bad data: every unreadable input gets one line naming the file, nothing is skipped
silently, and the readers never fail with anything but a ZooError (Hypothesis property tests)."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zoo_core import data
from zoo_core.errors import DataError, ZooError
from zoo_core.testing.tiny import TINY_IMAGE, write_image_folder

# ------------------------------------------------------------------------------------- helpers


def jpeg_bytes(size: int = 64, seed: int = 0) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.RandomState(seed).randint(0, 255, (size, size, 3)).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def png_bytes(size: int = 8, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no real pixel data: opening it is instant)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _chunk(b"IEND", b"")
    )


def truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: its header reads, decoding it fails ("image file is truncated")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    whole = jpeg_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def one_line(message: str) -> bool:
    return "\n" not in message.strip()


def invoke(*args: str):
    from zoo_core.cli import cli

    return CliRunner().invoke(cli, list(args))


def tiny_backbone(tiny_zoo):
    from zoo_core.engine.model import build_backbone

    return build_backbone(tiny_zoo, tiny_zoo.catalog.get(TINY_IMAGE))


# ------------------------------------------------------------- 1. corrupt images at decode time


def test_truncated_jpeg_in_a_worker_loader_is_one_line_naming_the_file(tmp_path, tiny_zoo):
    from zoo_core.engine.loaders import item_loader

    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes())
    bad = truncated_jpeg(tmp_path / "cut.jpg")
    prep = tiny_backbone(tiny_zoo).preprocessor(train=True)
    for workers in (0, 1):  # in the main process, and across the DataLoader worker boundary
        loader = item_loader([str(good), str(bad)], [0, 1], prep, batch_size=2, num_workers=workers)
        with pytest.raises(DataError) as info:
            list(loader)
        message = str(info.value)
        assert str(bad) in message and "truncated" in message and one_line(message), message
        assert "DataLoader worker" not in message and "Traceback" not in message


@pytest.mark.slow  # builds a model and a worker pool
def test_truncated_jpeg_in_feature_extraction_names_the_file(tmp_path, tiny_zoo):
    from zoo_core.engine.features import extract_features

    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes())
    bad = truncated_jpeg(tmp_path / "cut.jpg")
    with pytest.raises(DataError) as info:
        extract_features(tiny_backbone(tiny_zoo), [str(good), str(bad)], num_workers=1)
    assert str(bad) in str(info.value) and one_line(str(info.value))


def test_truncated_jpeg_in_recommend_names_the_file(tiny_zoo, tmp_path):
    from zoo_core.engine.recommend import recommend

    folder = write_image_folder(tmp_path / "photos", per_class=20)
    bad = truncated_jpeg(folder / "class_2" / "cut.jpg")  # past the calibration batch: reaches the scoring
    with pytest.raises(DataError) as info:
        recommend(folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None, resamples=0)
    assert str(bad) in str(info.value) and one_line(str(info.value))


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("method", ["full", "linear_probe"])
def test_truncated_jpeg_fails_finetune_with_one_line(tiny_catalog, tmp_path, run_zoo, method):
    folder = write_image_folder(tmp_path / "photos", per_class=20)
    bad = truncated_jpeg(folder / "class_1" / "cut.jpg")
    code, out, err = run_zoo(
        "--catalog", str(tiny_catalog), "finetune", "-m", "tiny-image", "-d", str(folder), "--method", method,
        "--epochs", "1", "--no-save",
    )  # fmt: skip
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "truncated" in errors[0], err
    assert "DataLoader worker" not in err


@pytest.fixture
def adapter(tiny_zoo, tmp_path):
    """A stored linear-probe adapter on the tiny image model (its name)."""
    from zoo_core.engine.pipeline import finetune

    folder = write_image_folder(tmp_path / "train-photos", per_class=6)
    return finetune(TINY_IMAGE, folder, zoo=tiny_zoo, epochs=1, name="bad-data").adapter


@pytest.mark.slow  # its fixture trains a model
def test_evaluate_and_predict_name_the_bad_image(adapter, tiny_zoo, tmp_path):
    from zoo_core.engine.inference import evaluate, predict

    folder = write_image_folder(tmp_path / "eval", per_class=20)
    bad = truncated_jpeg(folder / "class_0" / "cut.jpg")
    with pytest.raises(DataError) as info:
        evaluate(adapter, folder, zoo=tiny_zoo)
    assert str(bad) in str(info.value) and one_line(str(info.value))
    with pytest.raises(DataError) as info:
        predict(adapter, [str(bad)], zoo=tiny_zoo)
    assert str(bad) in str(info.value) and "truncated" in str(info.value) and one_line(str(info.value))

    # 6. A folder given to predict: say it is a folder, and what to pass instead.
    with pytest.raises(DataError) as info:
        predict(adapter, [str(folder / "class_1")], zoo=tiny_zoo)
    message = str(info.value)
    assert "folder" in message and str(folder / "class_1") in message and "*.jpg" in message, message

    # 5. An image above the pixel limit, given directly: refused at load time, naming the file.
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(12000, 12000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning
        with pytest.raises(DataError) as info:
            predict(adapter, [str(huge)], zoo=tiny_zoo)
    assert str(huge) in str(info.value) and "ZOO_MAX_IMAGE_PIXELS" in str(info.value)

    # 2. evaluate's result lists the skipped files.
    bad.unlink()
    (folder / "class_0" / "empty.jpg").write_bytes(b"")
    result = evaluate(adapter, folder, zoo=tiny_zoo)
    assert result["skipped"] == [{"location": str(folder / "class_0" / "empty.jpg"), "reason": "empty file"}]


@pytest.mark.slow  # its fixture trains a model
def test_evaluate_cli_prints_the_skipped_summary_on_stderr(adapter, tmp_path, tiny_catalog, run_zoo):
    folder = write_image_folder(tmp_path / "eval", per_class=20)
    (folder / "class_0" / "empty.jpg").write_bytes(b"")
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "evaluate", adapter, "--data", str(folder))
    assert code == 0, err
    assert "1 item skipped" in err and "empty.jpg: empty file" in err, err
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "evaluate", adapter, "--data", str(folder), "--json")
    assert json.loads(out)["skipped"][0]["reason"] == "empty file"


# -------------------------------------------------------------------- 2. nothing skipped silently


def bad_image_folder(root: Path, good_per_class: int = 25) -> tuple[Path, list[Path]]:
    folder = write_image_folder(root, per_class=good_per_class, size=8)
    bad = [folder / "class_0" / "zero.jpg", folder / "class_1" / "text.jpg", folder / "class_2" / "bomb.png"]
    bad[0].write_bytes(b"")
    bad[1].write_text("this is a text file, not a JPEG\n")
    bad[2].write_bytes(png_header(50000, 50000))
    return folder, bad


def bad_jsonl(path: Path, good: int = 60) -> Path:
    lines = [json.dumps({"text": f"text number {i}", "label": "ab"[i % 2]}) for i in range(good)]
    lines[3:3] = ["{not json", "null", json.dumps({"text": {"nested": 1}, "label": "a"})]
    return write(path, "\n".join(lines) + "\n")


def test_every_bad_image_is_recorded_with_its_reason(tmp_path):
    folder, bad = bad_image_folder(tmp_path / "photos")
    loaded = data.load_labelled(folder)
    reasons = {s.location: s.reason for s in loaded.skipped}
    assert set(reasons) == {str(p) for p in bad}
    assert reasons[str(bad[0])] == "empty file"
    assert "pixel" in reasons[str(bad[2])] and "ZOO_MAX_IMAGE_PIXELS" in reasons[str(bad[2])]


def test_recommend_prints_skipped_images_on_stderr_and_in_json(tiny_catalog, tmp_path):
    folder, bad = bad_image_folder(tmp_path / "photos")
    args = ["--catalog", str(tiny_catalog), "recommend", "-d", str(folder), "--candidates", "tiny-image"]
    args += ["--budget-seconds", "0", "--resamples", "0"]
    result = invoke(*args)  # in-process: a subprocess would spend its time importing torch
    assert result.exit_code == 0, result.output
    assert "3 items skipped" in result.stderr and f"{bad[0]}: empty file" in result.stderr, result.stderr
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(s["location"] for s in json.loads(result.stdout)["skipped"]) == sorted(str(p) for p in bad)


def test_methods_suggest_prints_skipped_rows(tmp_path, run_zoo):
    path = bad_jsonl(tmp_path / "reviews.jsonl")
    code, out, err = run_zoo("methods", "suggest", "-d", str(path))
    assert code == 0, err
    assert "3 items skipped" in err and f"{path}:4: invalid JSON" in err and f"{path}:5: not a JSON object" in err
    code, out, err = run_zoo("methods", "suggest", "-d", str(path), "--json")
    assert [s["location"] for s in json.loads(out)["skipped"]] == [f"{path}:4", f"{path}:5", f"{path}:6"]


def test_too_many_unreadable_items_is_an_error_that_says_how_to_override(tmp_path):
    folder, bad = bad_image_folder(tmp_path / "photos", good_per_class=5)  # 3 of 18 unreadable
    with pytest.raises(DataError) as info:
        data.load_labelled(folder)
    message = str(info.value)
    assert "3 of 18" in message and str(bad[0]) in message and "--max-skipped-fraction" in message, message
    assert one_line(message)
    assert len(data.load_labelled(folder, max_skipped_fraction=0.2)) == 15
    assert data.MAX_SKIPPED_FRACTION == 0.05
    # the same through load_splits, which every training command uses
    with pytest.raises(DataError, match="max-skipped-fraction"):
        data.load_splits(folder)


def test_ignored_files_do_not_count_towards_the_limit(tmp_path):
    folder = write_image_folder(tmp_path / "photos", per_class=2, size=8)
    (folder / "stray.png").write_bytes(png_bytes())  # beside the class folders: ignored, and said so
    loaded = data.load_labelled(folder)
    assert len(loaded) == 6 and len(loaded.skipped) == 1


def test_unterminated_csv_quote_is_an_error_not_a_silent_loss(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\ngood,a\n"unclosed,b\nlost row,a\nanother lost row,b\n')
    with pytest.raises(DataError) as info:
        data.load_text_file(path)
    message = str(info.value)
    assert f"{path}:3" in message and "quote" in message and one_line(message), message
    # A quote left open on the last line only loses nothing: that still loads.
    assert data.load_text_file(write(tmp_path / "e.csv", 'text,label\ngood,a\nfine,"b\n')).labels == ["a", "b"]


def test_skipped_summary_line():
    skipped = [data.Skipped(f"f.csv:{i}", "empty text") for i in range(2, 7)]
    line = data.skipped_summary(skipped)
    assert line.startswith("5 items skipped: f.csv:2: empty text; f.csv:3: empty text; f.csv:4: empty text")
    assert "and 2 more" in line and one_line(line)
    assert data.skipped_summary([]) == ""


@pytest.mark.slow  # trains a model
def test_finetune_reports_skipped_items_in_log_run_folder_and_json(tiny_zoo, tmp_path):
    from zoo_core.engine.pipeline import finetune

    folder, bad = bad_image_folder(tmp_path / "photos")
    lines: list[str] = []
    result = finetune(
        TINY_IMAGE, folder, zoo=tiny_zoo, epochs=1, save=False, run_dir=tmp_path / "run", log=lines.append
    )
    assert any(line.startswith("3 items skipped") and str(bad[0]) in line for line in lines), lines
    assert sorted(s["location"] for s in result.as_dict()["skipped"]) == sorted(map(str, bad))
    written = json.loads((tmp_path / "run" / "skipped.json").read_text())
    assert sorted(s["location"] for s in written) == sorted(map(str, bad))


# ------------------------------------------------------------------------------ 3. encodings


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"])
def test_bom_decides_the_encoding(tmp_path, encoding):
    text = "text\tlabel\ncafé crème\tfrançais\nplain tea\tenglish\n"
    raw = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be", "utf-32-be"):
        raw = "\ufeff".encode(encoding) + raw  # these codecs write no BOM themselves
    path = tmp_path / "d.tsv"
    path.write_bytes(raw)
    loaded = data.load_text_file(path)
    assert loaded.labels == ["français", "english"] and loaded.items == ["café crème", "plain tea"]


def test_nul_characters_are_an_error_naming_the_file(tmp_path):
    path = write(tmp_path / "d.tsv", "text\tlabel\nhello\tgreet\nbye\tleave\n", encoding="utf-16-le")  # no BOM
    with pytest.raises(DataError) as info:
        data.load_text_file(path)
    message = str(info.value)
    assert str(path) in message and "NUL" in message and "--encoding" in message and one_line(message)
    assert data.load_text_file(path, encoding="utf-16-le").labels == ["greet", "leave"]


# ------------------------------------------------------------------------- 4. column choice


def test_a_label_column_of_unique_ids_is_refused(tmp_path):
    rows = "".join(f"review number {i}\t{1000 + i}\n" for i in range(12))
    path = write(tmp_path / "d.tsv", "text\tid\n" + rows)
    with pytest.raises(DataError) as info:
        data.load_text_file(path)
    message = str(info.value)
    assert str(path) in message and "'id'" in message and "--label-column" in message and one_line(message)
    # Named on purpose: accepted.
    assert len(data.load_text_file(path, label_column="id")) == 12


def test_the_chosen_columns_are_noted(tmp_path):
    path = write(tmp_path / "d.csv", "Review,Sentiment,other\n" + "".join(f"r{i},{i % 2},x\n" for i in range(10)))
    note = " ".join(data.load_text_file(path).notes)
    assert "text column 'Review'" in note and "label column 'Sentiment'" in note and "by its name" in note, note
    path = write(tmp_path / "e.tsv", "text\tgenre\n" + "".join(f"t{i}\t{'ab'[i % 2]}\n" for i in range(10)))
    note = " ".join(data.load_splits(path).notes)
    assert "label column 'genre'" in note and "only other column" in note, note


# ---------------------------------------------------------------------------- 5. pixel limit


def test_pixel_limit_when_the_folder_is_read_without_a_raw_warning(tmp_path):
    folder = write_image_folder(tmp_path / "photos", per_class=30, size=8)
    huge = folder / "class_0" / "huge.png"
    huge.write_bytes(png_header(12000, 12000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = data.load_labelled(folder)
    (skipped,) = loaded.skipped
    assert (
        skipped.location == str(huge) and "12000x12000" in skipped.reason and "ZOO_MAX_IMAGE_PIXELS" in skipped.reason
    )


def test_pixel_limit_is_overridable(tmp_path, monkeypatch):
    folder = write_image_folder(tmp_path / "photos", classes=2, per_class=2, size=24)
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "100")  # 24x24 = 576 pixels: every image is over
    with pytest.raises(DataError, match="ZOO_MAX_IMAGE_PIXELS"):
        data.load_labelled(folder)
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "many")
    with pytest.raises(DataError, match="ZOO_MAX_IMAGE_PIXELS.*'many'"):
        data.load_labelled(folder)
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "1000")
    assert len(data.load_labelled(folder)) == 4
    monkeypatch.delenv("ZOO_MAX_IMAGE_PIXELS")
    assert data.max_image_pixels() == data.MAX_IMAGE_PIXELS


def test_pixel_limit_when_an_image_is_loaded(tmp_path, tiny_zoo):
    from zoo_core.engine.loaders import load_item

    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(12000, 12000))
    prep = tiny_backbone(tiny_zoo).preprocessor(train=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError) as info:
            load_item(prep.load, str(huge))
    message = str(info.value)
    assert str(huge) in message and "12000x12000" in message and "ZOO_MAX_IMAGE_PIXELS" in message, message


# ------------------------------------------------------------------------ 6. options that exist


@pytest.mark.parametrize("command", [["finetune"], ["evaluate"], ["recommend"], ["methods", "suggest"]])
def test_commands_that_read_data_files_take_delimiter_and_encoding(command):
    out = invoke(*command, "--help").output
    for flag in ("--delimiter", "--encoding", "--text-column", "--label-column", "--max-skipped-fraction"):
        assert flag in out, (command, flag)


def test_every_flag_the_data_errors_suggest_exists():
    from zoo_core.commands.training import finetune

    known = {opt for param in finetune.params for opt in param.opts}
    sources = [*Path(data.__file__).parent.glob("*.py")]
    suggested = set()
    for source in sources:
        suggested |= set(re.findall(r"(--[a-z][a-z-]+)", source.read_text()))
    suggested.discard("--help")  # "zoo --help", in a docstring
    assert suggested and suggested <= known, suggested - known


def test_methods_suggest_takes_delimiter_and_encoding(tmp_path, run_zoo):
    rows = "".join(f"texte {i} é;{'ab'[i % 2]}\n" for i in range(10))
    path = write(tmp_path / "d.csv", "text;label\n" + rows, encoding="cp1252")
    code, out, err = run_zoo(
        "methods", "suggest", "-d", str(path), "--delimiter", ";", "--encoding", "cp1252", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["examples"] == 10


# ---------------------------------------------------------------- property tests (Hypothesis)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT_EXTS = (".csv", ".tsv", ".jsonl", ".json", ".txt")
BOM_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-32")
ANY_ENCODINGS = (*BOM_ENCODINGS, "utf-16-le", "utf-16-be", "latin-1", "cp1252")


def _check_loaded(loaded, path: Path) -> None:
    assert len(loaded.items) == len(loaded.labels) > 0
    assert all(isinstance(x, str) and x and "\0" not in x for x in loaded.items + loaded.labels)
    assert loaded.source == str(path)


def _load_or_zoo_error(path: Path, **options):
    try:
        return data.load_text_file(path, **options)
    except ZooError as error:
        assert str(path) in str(error) or "delimiter" in str(error), str(error)
        assert one_line(str(error)), str(error)
        return None


@FUZZ
@given(
    raw=st.binary(max_size=400),
    ext=st.sampled_from(TEXT_EXTS),
    delimiter=st.sampled_from([None, ",", ";", "\t", "|", "tab"]),
    encoding=st.sampled_from([None, "utf-8", "latin-1", "utf-16"]),
    label_column=st.sampled_from([None, "first-token", "label", "1"]),
)
def test_text_reader_on_random_bytes(tmp_path, raw, ext, delimiter, encoding, label_column):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(raw)
    loaded = _load_or_zoo_error(path, delimiter=delimiter, encoding=encoding, label_column=label_column)
    if loaded is not None:
        _check_loaded(loaded, path)


_cell = st.text(st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=12)


@FUZZ
@given(
    rows=st.lists(st.tuples(_cell, _cell), min_size=1, max_size=12),
    encoding=st.sampled_from(ANY_ENCODINGS),
    delimiter=st.sampled_from([",", ";", "|", "\t"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
)
def test_delimited_reader_loads_what_was_written_or_says_why(tmp_path, rows, encoding, delimiter, quoting, bom):
    """Written with csv.writer in any encoding (with a BOM or not): either every row comes back
    (stripped), or the rows that do not are listed as skipped, or a ZooError names the file."""
    ext = ".tsv" if delimiter == "\t" else ".csv"
    if delimiter == "\t":  # TSV is read unquoted: a cell may not hold a tab or a line break
        rows = [tuple(re.sub(r"[\t\r\n]", " ", c) for c in row) for row in rows]
        text = "".join(f"{a}\t{b}\n" for a, b in [("text", "label"), *rows])
    else:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting)  # "\r\n": a cell's CR or LF is quoted
        writer.writerows([("text", "label"), *rows])
        text = buffer.getvalue()
    bom = bom and encoding in ("utf-8", "utf-16-le", "utf-16-be")  # the others write their own, or none
    if bom:
        text = "\ufeff" + text
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        return
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(raw)
    # Detected: a BOM, or plain UTF-8; other encodings are named, as a user would with --encoding.
    auto = bom or encoding in BOM_ENCODINGS
    loaded = _load_or_zoo_error(path, delimiter=delimiter, encoding=None if auto else encoding)
    if loaded is None:
        return
    _check_loaded(loaded, path)
    expected = [(t.strip(), lab.strip()) for t, lab in rows if t.strip() and lab.strip()]
    kept = list(zip(loaded.items, loaded.labels))
    assert [pair for pair in expected if pair in kept] == kept, "a row came back changed"
    assert len(kept) + len([s for s in loaded.skipped if not s.ignored]) >= len(expected), "rows lost silently"


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _cell,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_cell, inner, max_size=3),
    max_leaves=6,
)
_record = st.one_of(
    st.fixed_dictionaries({"text": _json_value, "label": _json_value}),
    st.fixed_dictionaries({"text": _cell, "label": _cell}),
    _json_value,
)


@FUZZ
@given(
    records=st.lists(_record, min_size=1, max_size=10),
    garbage=st.lists(st.tuples(st.integers(0, 10), st.text(max_size=10)), max_size=3),
    encoding=st.sampled_from(BOM_ENCODINGS),
)
# Found by CI: a key holding a newline broke the "first row" error message over two lines.
@example(records=[{"\n": None}], garbage=[], encoding="utf-8")
def test_jsonl_reader_accounts_for_every_line(tmp_path, records, garbage, encoding):
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    for index, junk in garbage:
        lines.insert(min(index, len(lines)), junk)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes("\n".join(lines).encode(encoding))
    loaded = _load_or_zoo_error(path)
    if loaded is None:
        return
    _check_loaded(loaded, path)
    non_blank = sum(1 for line in lines for part in line.split("\n") if part.strip())
    assert len(loaded) + len(loaded.skipped) == non_blank, "a line was neither loaded nor reported"


def _image_payloads():
    valid = [jpeg_bytes(16, seed=1), png_bytes(8)]
    mutated = st.tuples(
        st.sampled_from(valid),
        st.integers(0, 600),
        st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=4),
    ).map(lambda t: _mutate(*t))
    return st.one_of(st.sampled_from(valid), mutated, st.binary(max_size=64), st.just(png_header(50000, 50000)))


def _mutate(payload: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(payload[: max(cut, 8)] if cut < len(payload) else payload)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    return bytes(out)


@FUZZ
@given(
    files=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([".jpg", ".png", ".gif"]), _image_payloads()),
        min_size=1,
        max_size=6,
    )
)
def test_image_folder_reader_and_decoder_on_corrupt_files(tmp_path_factory, files):
    from zoo_core.engine.loaders import load_item

    root = tmp_path_factory.mktemp("fuzz-images")
    written = []
    for i, (label, ext, payload) in enumerate(files):
        path = root / label / f"{i}{ext}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(payload)
        written.append(str(path))
    try:
        loaded = data.load_labelled(root, max_skipped_fraction=1.0)
    except ZooError as error:
        assert str(root) in str(error) and one_line(str(error)), str(error)
        return
    assert sorted(loaded.items + [s.location for s in loaded.skipped]) == sorted(written), "an image went missing"

    def decode(item):
        from PIL import Image

        with Image.open(item) as handle:
            return handle.convert("RGB").size

    for item in loaded.items:
        try:
            load_item(decode, item)
        except DataError as error:
            assert item in str(error) and one_line(str(error)), str(error)
