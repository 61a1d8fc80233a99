"""Container walks (``emotion.container``): what an MP4 or Matroska file declares is read from its bytes, and a file
declaring absurd sample counts or track counts is refused before FFmpeg (``cv2.VideoCapture``) ever sees it."""

from __future__ import annotations

import struct

import pytest

import emotion.video as video
from bench.attacks import many_tracks_mkv, mp4_clip, sample_index_mp4
from bench.video import make_clip
from emotion.container import MAX_BOXES, ContainerLimits, check_container, declared
from emotion.errors import ImageRejected
from emotion.video import VideoLimits, probe


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, *fields: int) -> bytes:
    """A full box (version and flags 0) of 32-bit fields."""
    return box(kind, struct.pack(f">I{len(fields)}I", 0, *fields))


def movie(*traks: bytes, extra: bytes = b"") -> bytes:
    return box(b"ftyp", b"isom\0\0\0\0isom") + box(b"moov", full(b"mvhd", *[0] * 24), *traks) + extra


def trak(handler: bytes, stsz: tuple[int, int], stts: list[tuple[int, int]], stsc: list[tuple[int, int, int]],
         chunks: int) -> bytes:
    stbl = box(b"stbl", full(b"stsz", *stsz), full(b"stts", len(stts), *[v for e in stts for v in e]),
               full(b"stsc", len(stsc), *[v for e in stsc for v in e]), full(b"stco", chunks, *range(chunks)))
    return box(b"trak", box(b"mdia", box(b"hdlr", struct.pack(">II4s", 0, 0, handler) + bytes(12)),
                            box(b"minf", stbl)))


@pytest.fixture()
def no_ffmpeg(monkeypatch):
    """Any attempt to open the bytes with FFmpeg fails the test: refusals must come first."""
    def refuse(*a, **k):
        raise AssertionError("FFmpeg was asked to open a file the byte walk should have refused")
    monkeypatch.setattr(video, "_Capture", refuse)


def test_the_sample_index_bomb_is_refused_before_ffmpeg_opens_it(no_ffmpeg):
    bomb = sample_index_mp4(tracks=3, samples=80_000_000)
    assert len(bomb) < 4096
    assert declared(bomb, "mp4").tracks == 3 and declared(bomb, "mp4").entries == 240_000_000
    with pytest.raises(ImageRejected) as e:
        probe(bomb)
    assert e.value.code == "video_too_long" and "240,000,000" in e.value.message and "60 s" in e.value.message


def test_analyse_refuses_it_too_without_a_probe(no_ffmpeg):
    r = video.analyse(sample_index_mp4(tracks=1), recognizer=type("R", (), {"default_model": "accurate"})())
    assert not r.success and r.error == "video_too_long"


def test_hundreds_of_matroska_tracks_are_refused_before_ffmpeg(no_ffmpeg):
    bomb = many_tracks_mkv(990)
    assert declared(bomb, "webm").tracks == 990
    with pytest.raises(ImageRejected) as e:
        probe(bomb)
    assert e.value.code == "unsupported_video" and "990 tracks" in e.value.message


@pytest.mark.parametrize("fourcc, suffix", [("mp4v", "mp4"), ("VP80", "webm"), ("mp4v", "mov")])
def test_ordinary_clips_declare_what_they_hold_and_pass(tmp_path, fourcc, suffix):
    data = make_clip(tmp_path / f"c.{suffix}", 2, 15, (160, 120), scene=lambda t: None, fourcc=fourcc).read_bytes()
    got = declared(data, video.sniff_video(data[:16]))
    assert got.tracks == 1
    if suffix != "webm":
        assert got.entries == 30  # one index entry per frame
    assert probe(data).frame_count == 30


def test_the_limit_follows_the_longest_clip_allowed():
    clip = mp4_clip(64, 240, 2)  # 480 frames
    check_container(clip, "mp4", 60)
    with pytest.raises(ImageRejected):
        check_container(clip, "mp4", 1, ContainerLimits(entries_per_second=100))


def test_uncompressed_audio_counts_its_chunks_as_ffmpeg_indexes_them():
    """48 kHz PCM for 60 s: 2.88 M samples of constant size, one stts entry of duration 1: FFmpeg indexes pieces of
    chunks (≤ 1,024 samples), 60 chunks of a second → 2,820 entries, not 2.88 M; a video track is counted by sample."""
    pcm = trak(b"soun", (4, 2_880_000), [(2_880_000, 1)], [(1, 48_000, 1)], 60)
    picture = trak(b"vide", (0, 1800), [(1800, 512)], [(1, 1, 1)], 0)
    got = declared(movie(pcm, picture), "mp4")
    assert got.tracks == 2 and got.entries == 60 * 47 + 1800
    check_container(movie(pcm, picture), "mp4", 60)
    video_marked = trak(b"vide", (4, 2_880_000), [(2_880_000, 1)], [(1, 48_000, 1)], 60)  # the same tables as video
    assert declared(movie(video_marked), "mp4").entries == 2_880_000


def test_fragments_count_their_samples_and_only_the_first_movie_box_counts():
    moof = box(b"moof", box(b"traf", full(b"trun", 50_000_000)))
    assert declared(movie(extra=moof * 2), "mp4").entries == 100_000_000
    second = box(b"moov", trak(b"vide", (0, 9_000_000), [(9_000_000, 1)], [(1, 1, 1)], 1))
    assert declared(movie(extra=second), "mp4").entries == 0  # FFmpeg skips a second moov, and so does the count


def test_compressed_headers_and_files_of_countless_boxes_are_refused():
    with pytest.raises(ImageRejected) as e:
        check_container(box(b"ftyp", b"qt  \0\0\0\0") + box(b"moov", box(b"cmov", bytes(20))), "mp4", 60)
    assert e.value.code == "unsupported_video"
    with pytest.raises(ImageRejected) as e:
        check_container(box(b"ftyp", b"isom\0\0\0\0") + box(b"free") * (MAX_BOXES + 1), "mp4", 60)
    assert e.value.code == "invalid_video"


def test_many_tracks_in_mp4_are_refused():
    one = trak(b"vide", (0, 10), [(10, 1)], [(1, 1, 1)], 10)
    with pytest.raises(ImageRejected) as e:
        check_container(movie(*[one] * 17), "mp4", 60)
    assert e.value.code == "unsupported_video" and "17 tracks" in e.value.message
