"""Files a release writes on worker threads: all of them whole, or the first error raised."""

from __future__ import annotations

import gzip

import pytest

from simulator.writers.files import FileWriter


def test_every_queued_file_is_whole_when_the_writer_closes(tmp_path):
    texts = {
        f"dt=2025-01-{d:02d}/events.jsonl.gz": f'{{"day": {d}}}\n' * 5_000 for d in range(1, 29)
    }
    with FileWriter(workers=2, pending_bytes=100_000) as writer:  # forces waits on old files
        for name, text in texts.items():
            writer.submit(tmp_path / name, text)
    for name, text in texts.items():
        assert gzip.decompress((tmp_path / name).read_bytes()).decode() == text
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_is_raised_not_lost(tmp_path):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(OSError), FileWriter() as writer:
        writer.submit(tmp_path / "ok" / "page-00001.json", "{}")
        writer.submit(tmp_path / "blocked" / "page-00002.json", "{}")
    assert (tmp_path / "ok" / "page-00001.json").read_text() == "{}"
