"""A big CSV file is cut into byte ranges of whole records, one per worker task (`TabularFile.csv_blocks`)."""

import csv
import io

import pytest

from guanxi.customers.importing.readers import open_tabular


def _file(tmp_path, rows, encoding="utf-8-sig"):
    path = tmp_path / "blocks.csv"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["客户名称", "地址"])
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("taper", [0, 3])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_ranges_hold_whole_records_and_the_whole_file(tmp_path, taper, encoding):
    rows = [[f"客户{i}", f"和平路{i}号\n二单元 \"东\"" if i % 7 == 0 else f"幸福路{i}号"] for i in range(3000)]
    rows[300][1] = "很长的地址" * 2000  # one record longer than a range
    path = _file(tmp_path, rows, encoding)
    tabular = open_tabular(path)
    data = path.read_bytes()
    ranges = list(tabular.csv_blocks(16384, taper=taper))
    assert all(end > start for start, end in ranges)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False)) and ranges[-1][1] == len(data)
    parsed = [row for start, end in ranges
              for row in csv.reader(io.StringIO(data[start:end].decode(tabular.encoding.replace("-sig", ""))))]
    assert parsed == rows
    sizes = [end - start for start, end in ranges]
    last_full = max(index for index, size in enumerate(sizes) if size >= 16384 - 100)
    tail = sizes[last_full + 1:]
    if taper:  # the last three ranges' worth of the file (49,152 bytes) comes in quarter ranges
        assert all(size <= 4096 for size in tail) and sum(tail) >= 2 * 16384
    else:  # (a range ends at the last whole record it holds)
        assert len(tail) <= 1 and sum(size < 16384 - 100 for size in sizes) <= 3
    tabular.close()
