"""web.shape.UploadScan: an upload's parts are counted and checked as the body streams, whatever its chunking."""

from __future__ import annotations

import pytest

from web.shape import UploadScan, _Cut


def _body(n: int, disposition: bytes = b'name="files"; filename="f.jpg"') -> bytes:
    part = b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\nxyz\r\n"
    return part * n + b"--b--\r\n"


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 16])
def test_twenty_files_pass_in_any_chunking_and_twenty_one_are_cut(chunk):
    scan = UploadScan("multipart/form-data; boundary=b", 20)
    body = _body(20)
    for i in range(0, len(body), chunk):
        scan.feed(body[i:i + chunk])
    assert scan.parts == 20
    scan, body = UploadScan("multipart/form-data; boundary=b", 20), _body(21)
    with pytest.raises(_Cut) as e:
        for i in range(0, len(body), chunk):
            scan.feed(body[i:i + chunk])
    assert e.value.refusal.code == "too_many_files"


@pytest.mark.parametrize("disposition", [b'name="files"', b'name="files"; filename=""', b'name="other"; filename="f.jpg"'])
def test_a_part_that_is_not_a_named_file_is_cut(disposition):
    with pytest.raises(_Cut) as e:
        UploadScan("multipart/form-data; boundary=b", 20).feed(_body(1, disposition))
    assert e.value.refusal.code == "invalid_request"


def test_a_boundary_over_70_characters_is_refused():
    with pytest.raises(_Cut):
        UploadScan("multipart/form-data; boundary=" + "x" * 71, 20)
