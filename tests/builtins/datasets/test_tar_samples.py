"""The shard reader against Python's :mod:`tarfile` (the members of archives in every
format it writes, compressed or not) and against webdataset's grouping into samples, and
one error for each kind of damage."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

import pytest

from ebkit.builtins.datasets.tar_samples import (
    TarFormatError,
    _number,
    open_shard,
    tar_files,
    tar_samples,
)

LONG_NAME = "/".join(["a-rather-long-directory-name"] * 5) + "/000001.jpg"  # 150 chars


def archive(members: list[tuple[str, bytes]], form: int = tarfile.PAX_FORMAT, **extra) -> bytes:
    """A tar archive of regular files, plus a directory and a symbolic link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form, **extra) as out:
        directory = tarfile.TarInfo("images")
        directory.type = tarfile.DIRTYPE
        out.addfile(directory)
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), 1_700_000_000.25  # pax writes the fraction
            out.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("latest.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, members[0][0]
        out.addfile(link)
    return buffer.getvalue()


def tarfile_members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archived:
        return [(m.name, archived.extractfile(m).read()) for m in archived if m.isreg()]


MEMBERS = [
    ("000000.jpg", b"\xff\xd8" + bytes(range(256)) * 3),  # not a multiple of 512 bytes
    ("000000.cls", b"7"),
    ("000001.jpg", bytes(512)),  # exactly one block
    ("empty.txt", b""),
    (LONG_NAME, b"long"),
]


@pytest.mark.parametrize("form", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_regular_file_comes_back_as_tarfile_reads_it(form: int) -> None:
    members = MEMBERS + ([("über/straße.png", b"u")] if form != tarfile.USTAR_FORMAT else [])
    data = archive(members, form)
    assert list(tar_files(io.BytesIO(data))) == tarfile_members(data) == members


def test_global_pax_headers_and_an_archive_without_its_end_blocks() -> None:
    data = archive(MEMBERS, tarfile.PAX_FORMAT, pax_headers={"comment": "made by a test"})
    assert list(tar_files(io.BytesIO(data))) == MEMBERS
    end = data.rindex(b"long") + 512  # the last member's content block, no zero blocks
    assert list(tar_files(io.BytesIO(data[:end]))) == MEMBERS


def test_a_pax_size_overrides_the_header_field() -> None:
    """pax writes a size record for members over 8 GiB; here the ustar field is zeroed so
    that only the record gives the length."""
    data = bytearray(archive([("big.bin", b"x" * 700)], tarfile.PAX_FORMAT))
    headers = [
        offset
        for offset in range(0, len(data), 512)
        if data[offset + 257 : offset + 262] == b"ustar"
    ]
    extended, member = headers[1], headers[2]  # after the directory: the pax header, the file
    assert data[extended + 156 : extended + 157] == b"x"
    records = b"12 size=700\n"
    data[extended + 512 : extended + 1024] = records.ljust(512, b"\0")
    set_header_field(data, extended, 124, b"%011o\0" % len(records))
    set_header_field(data, member, 124, b"00000000000\0")
    assert list(tar_files(io.BytesIO(bytes(data)))) == [("big.bin", b"x" * 700)]


def test_sizes_in_base_256_are_read() -> None:
    assert _number(b"\x80" + (9).to_bytes(11, "big"), 0) == 9
    assert _number(b"\xff" * 12, 0) == -1
    data = bytearray(archive([("a.bin", b"123456789")], tarfile.GNU_FORMAT))
    set_header_field(data, 512, 124, b"\x80" + (9).to_bytes(11, "big"))
    assert list(tar_files(io.BytesIO(bytes(data)))) == [("a.bin", b"123456789")]


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".tar.gz", gzip.compress), (".tar.bz2", bz2.compress), (".tar.xz", lzma.compress)],
)
def test_compressed_shards_are_opened_by_their_first_bytes(tmp_path, suffix, compress) -> None:
    data = archive(MEMBERS)
    path = tmp_path / f"shard{suffix}"
    path.write_bytes(compress(data))
    with open_shard(path) as stream:
        assert list(tar_files(stream)) == MEMBERS
    (tmp_path / "plain.tar").write_bytes(data)
    with open_shard(tmp_path / "plain.tar") as stream:
        assert list(tar_files(stream)) == MEMBERS


SAMPLE_NAMES = [
    "a.jpg",
    "a.cls",
    "b.JPG",
    "b.seg.png",  # the suffix is everything after the first dot
    "__meta__",  # metadata: skipped
    "__index__/x.json",
    "noextension",  # no dot: skipped
    "dir.v2/c.png",  # dots in directories do not count
    "dir.v2/c.cls",
    "a.json",  # the same key again, not adjacent: a new sample
]


def test_members_are_grouped_into_samples_by_the_name_before_the_first_dot() -> None:
    data = archive([(name, name.encode()) for name in SAMPLE_NAMES])
    assert list(tar_samples(io.BytesIO(data))) == [
        ("a", {"jpg": b"a.jpg", "cls": b"a.cls"}),
        ("b", {"jpg": b"b.JPG", "seg.png": b"b.seg.png"}),
        ("dir.v2/c", {"png": b"dir.v2/c.png", "cls": b"dir.v2/c.cls"}),
        ("a", {"json": b"a.json"}),
    ]


def test_the_grouping_is_webdatasets() -> None:
    tariterators = pytest.importorskip("webdataset.tariterators")
    data = archive([(name, name.encode()) for name in SAMPLE_NAMES])
    files = tariterators.tar_file_expander([{"url": "t.tar", "stream": io.BytesIO(data)}])
    theirs = [
        (sample["__key__"], {k: v for k, v in sample.items() if not k.startswith("__")})
        for sample in tariterators.group_by_keys(files)
    ]
    assert list(tar_samples(io.BytesIO(data))) == theirs


def set_header_field(data: bytearray, header: int, start: int, value: bytes) -> None:
    """Overwrite a header field and recompute the header's checksum."""
    data[header + start : header + start + len(value)] = value
    data[header + 148 : header + 156] = b"        "
    data[header + 148 : header + 156] = b"%06o\0 " % sum(data[header : header + 512])


def read_all(data: bytes) -> list:
    return list(tar_files(io.BytesIO(data)))


def test_damage_is_one_error_naming_what_and_where() -> None:
    data = archive(MEMBERS)
    first_file = data.index(b"000000.jpg") // 512 * 512
    corrupted = bytearray(data)
    corrupted[first_file + 3] ^= 1
    with pytest.raises(TarFormatError, match=f"bad header checksum at byte {first_file}"):
        read_all(bytes(corrupted))
    for cut in (100, len(MEMBERS[0][1]) + 5):  # in the content, then in its padding
        with pytest.raises(TarFormatError, match=f"ends inside the member at byte {first_file}"):
            read_all(data[: first_file + 512 + cut])
    with pytest.raises(TarFormatError, match="ends inside a header"):
        read_all(data[: first_file + 100])
    with pytest.raises(TarFormatError, match="not a tar header at byte 0"):
        read_all(b"this is not a tar archive".ljust(1024, b"!"))
    duplicate = archive([("a.jpg", b"1"), ("a.jpg", b"2")])
    with pytest.raises(TarFormatError, match=r"'a' has a second \.jpg member"):
        list(tar_samples(io.BytesIO(duplicate)))


def test_sparse_members_and_malformed_pax_headers_are_refused() -> None:
    sparse = bytearray(archive([("a.bin", b"1")], tarfile.GNU_FORMAT))
    set_header_field(sparse, 512, 156, b"S")
    with pytest.raises(TarFormatError, match="sparse member at byte 512"):
        read_all(bytes(sparse))
    data = bytearray(archive([("a.bin", b"1")], tarfile.PAX_FORMAT))
    extended = data.index(b"mtime=") // 512 * 512
    data[extended : extended + 6] = b"99 mti"  # a record longer than the header
    with pytest.raises(TarFormatError, match=f"malformed pax header at byte {extended - 512}"):
        read_all(bytes(data))
