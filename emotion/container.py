"""What a video container declares, read from its bytes before FFmpeg opens it: tracks and sample-index entries.

FFmpeg builds its whole sample index while opening a file: one entry (~24 bytes, more with timestamps) per sample an
MP4 track's sample tables declare, however few bytes the file has. A 3 KB MP4 whose ``stsz`` says 80 million samples
cost 3 GB inside ``cv2.VideoCapture`` before any of our checks ran; a 1.5 MB Matroska file with 990 tracks cost
1.9 GB. So the box tree (ISO-BMFF: ``moov/trak/mdia/minf/stbl``, and ``moof/traf/trun`` of fragmented files) and the
Matroska element tree (``Segment/Tracks/TrackEntry``, ``Cues``, ``Chapters``, ``Attachments``, found by walking
and through ``SeekHead``) are walked here, without decoding anything, and the caller refuses what no camera writes.

The walk reads only box and element headers and a few counters; it stops after ``MAX_BOXES`` of them, so even a
50 MB file of empty boxes costs milliseconds. ``cmov`` (a zlib-compressed movie header: FFmpeg inflates it, we could
not see inside) is refused outright: no camera or editor of this century writes it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from emotion.errors import ImageRejected

MAX_BOXES = 200_000  # box or element headers read in one file: a 60 s fragmented MP4 at 240 fps has ~30,000
MAX_DEPTH = 12
PCM_CHUNK_SAMPLES = 1024  # FFmpeg indexes uncompressed audio by pieces of chunks of up to 1,024 samples

# ISO-BMFF boxes walked into; every other box is skipped by its size
MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"edts", b"mvex"}

# Matroska element IDs (with their length marker bits, as written)
SEGMENT, CLUSTER, SEEKHEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x18538067, 0x1F43B675, 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
TRACKS, TRACK_ENTRY = 0x1654AE6B, 0xAE
CUES, CUE_POINT = 0x1C53BB6B, 0xBB
CHAPTERS, EDITION_ENTRY, CHAPTER_ATOM = 0x1043A770, 0x45B9, 0xB6
ATTACHMENTS, ATTACHED_FILE = 0x1941A469, 0x61A7
TAGS, TAG = 0x1254C367, 0x7373


@dataclass
class ContainerIndex:
    """``tracks``: tracks (streams) declared; ``entries``: index entries FFmpeg would build for them (samples, or for
    Matroska cue points); ``extras``: other per-item objects it would build (Matroska chapters, attachments, tags)."""

    tracks: int = 0
    entries: int = 0
    extras: int = 0
    compressed_header: bool = False


class _TooMany(Exception):
    pass


class _Budget:
    def __init__(self, limit: int = MAX_BOXES):
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooMany


# ---------------------------------------------------------------- ISO base media (MP4, MOV, M4V, 3GP)


def _boxes(data: bytes, start: int, end: int, budget: _Budget):
    """(type, payload start, payload end) of each box between ``start`` and ``end``; a box running past ``end`` is cut
    there (FFmpeg reads what there is)."""
    i = start
    while i + 8 <= end:
        budget.spend()
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            if i + 16 > end:
                return
            size, header = struct.unpack_from(">Q", data, i + 8)[0], 16
        elif size == 0:  # to the end of the enclosing box
            size = end - i
        if size < header:
            return
        yield kind, i + header, min(end, i + size)
        i += size


def _u32(data: bytes, at: int, end: int) -> int:
    return struct.unpack_from(">I", data, at)[0] if at + 4 <= end else 0


@dataclass
class _Track:
    handler: bytes = b""
    sample_size: int = 0
    stsz_count: int = 0
    stts_count: int = 0  # samples summed over the time-to-sample entries
    stts_single_unit: bool = False  # one stts entry of duration 1: FFmpeg's uncompressed-audio chunk index
    ctts_count: int = 0
    chunks: int = 0  # stco / co64 entries
    stsc: list[tuple[int, int]] | None = None  # (first chunk, samples per chunk)

    def entries(self) -> int:
        """Index entries FFmpeg's ``mov_build_index`` allocates for this track (its two ways, as it chooses)."""
        if self.handler == b"soun" and self.stts_single_unit:
            total, runs = 0, self.stsc or []
            for k, (first, per_chunk) in enumerate(runs):
                last = runs[k + 1][0] if k + 1 < len(runs) else self.chunks + 1
                total += max(0, last - first) * -(-per_chunk // PCM_CHUNK_SAMPLES)
            return max(total, self.ctts_count)
        return max(self.stsz_count, self.stts_count, self.ctts_count)


def _read_table(track: _Track, kind: bytes, data: bytes, start: int, end: int) -> None:
    """The counters of one sample-table box (``start``: after the box header, at version and flags)."""
    if kind == b"stsz":
        track.sample_size, track.stsz_count = _u32(data, start + 4, end), _u32(data, start + 8, end)
    elif kind == b"stz2":
        track.stsz_count = _u32(data, start + 8, end)
    elif kind in (b"stts", b"ctts"):
        n = min(_u32(data, start + 4, end), max(0, (end - start - 8) // 8))  # entries present, not declared
        counts = struct.unpack_from(f">{2 * n}I", data, start + 8) if n else ()
        total = sum(counts[0::2])
        if kind == b"stts":
            track.stts_count, track.stts_single_unit = total, n == 1 and counts[1] == 1
        else:
            track.ctts_count = total
    elif kind == b"stsc":
        n = min(_u32(data, start + 4, end), max(0, (end - start - 8) // 12))
        values = struct.unpack_from(f">{3 * n}I", data, start + 8) if n else ()
        track.stsc = list(zip(values[0::3], values[1::3]))
    elif kind in (b"stco", b"co64"):
        track.chunks = min(_u32(data, start + 4, end), max(0, (end - start - 8) // (4 if kind == b"stco" else 8)))
    elif kind == b"hdlr":
        track.handler = bytes(data[start + 8:start + 12])


def mp4_index(data: bytes) -> ContainerIndex:
    """Tracks and index entries of an ISO base media file: the first ``moov`` (FFmpeg skips later ones) and every
    ``moof`` fragment's ``trun`` sample counts."""
    out, budget, seen_moov = ContainerIndex(), _Budget(), False

    def walk(start: int, end: int, depth: int, track: _Track | None) -> None:
        nonlocal seen_moov
        for kind, a, b in _boxes(data, start, end, budget):
            if kind == b"cmov":
                out.compressed_header = True
            elif kind == b"trak":
                out.tracks += 1
                t = _Track()
                walk(a, b, depth + 1, t)
                out.entries += t.entries()
            elif kind == b"trun":
                out.entries += _u32(data, a + 4, b)
            elif kind == b"moov" and depth == 0:
                if not seen_moov:
                    seen_moov = True
                    walk(a, b, depth + 1, None)
            elif kind in MP4_CONTAINERS and depth < MAX_DEPTH:
                walk(a, b, depth + 1, track)
            elif track is not None:
                _read_table(track, kind, data, a, b)

    walk(0, len(data), 0, None)
    return out


# ---------------------------------------------------------------- Matroska, WebM


def _vint(data: bytes, at: int, end: int, keep_marker: bool) -> tuple[int, int]:
    """(value, length) of an EBML variable-size integer; value -1 for an unknown size (all value bits set)."""
    if at >= end or data[at] == 0:
        raise ValueError("bad EBML number")
    first, length = data[at], 1
    while not first & (0x80 >> (length - 1)):
        length += 1
    if at + length > end:
        raise ValueError("cut EBML number")
    value = first if keep_marker else first & (0xFF >> length)
    for k in range(1, length):
        value = (value << 8) | data[at + k]
    if not keep_marker and value == (1 << (7 * length)) - 1:
        value = -1
    return value, length


def _elements(data: bytes, start: int, end: int, budget: _Budget):
    """(id, payload start, payload end or -1 for an unknown size) of each element between ``start`` and ``end``."""
    i = start
    while i < end:
        budget.spend()
        try:
            eid, n = _vint(data, i, end, keep_marker=True)
            size, m = _vint(data, i + n, end, keep_marker=False)
        except ValueError:
            return
        a = i + n + m
        if size < 0:
            yield eid, a, -1
            return  # an unknown size (a live recording's cluster) runs to its parent's end: nothing after it to walk
        yield eid, a, min(end, a + size)
        i = a + size


def _count(data: bytes, start: int, end: int, want: int, budget: _Budget, nested: int = 0) -> int:
    """Elements ``want`` among the children of [start, end), also inside children of ID ``nested`` (chapters nest)."""
    n = 0
    for eid, a, b in _elements(data, start, end, budget):
        if eid == want:
            n += 1
        if (eid == nested or (nested and eid == want)) and b > 0:
            n += _count(data, a, b, want, budget, nested)
    return n


def matroska_index(data: bytes) -> ContainerIndex:
    """Tracks, cue points and chapters, attachments and tags of a Matroska/WebM file: the top-level elements of its
    first Segment, walked by size and reached through its SeekHeads (FFmpeg follows them)."""
    out, budget, end = ContainerIndex(), _Budget(), len(data)
    segment = next(((a, b if b > 0 else end) for eid, a, b in _elements(data, 0, end, budget) if eid == SEGMENT), None)
    if segment is None:
        return out
    seg_start, seg_end = segment
    read: set[int] = set()
    pending = [seg_start]  # offsets of top-level elements still to walk from
    counted: set[int] = set()
    while pending:
        at = pending.pop()
        if at in read or not seg_start <= at < seg_end:
            continue
        read.add(at)
        for eid, a, b in _elements(data, at, seg_end, budget):
            if b < 0 or eid == CLUSTER:
                break  # a cluster: the media, walked by nobody here; what comes after is reached by SeekHead
            if a not in counted:
                counted.add(a)
                _tally(data, eid, a, b, seg_start, out, pending, budget)
            if at != seg_start:
                break  # reached through a SeekHead: that one element only
    return out


def _tally(data: bytes, eid: int, a: int, b: int, seg_start: int, out: ContainerIndex, pending: list[int],
           budget: _Budget) -> None:
    """Add one top-level element's counts to ``out`` (a SeekHead adds the positions it points to to ``pending``)."""
    if eid == TRACKS:
        out.tracks += _count(data, a, b, TRACK_ENTRY, budget)
    elif eid == CUES:
        out.entries += _count(data, a, b, CUE_POINT, budget)
    elif eid == CHAPTERS:
        out.extras += _count(data, a, b, CHAPTER_ATOM, budget, nested=EDITION_ENTRY)
    elif eid == ATTACHMENTS:
        out.extras += _count(data, a, b, ATTACHED_FILE, budget)
    elif eid == TAGS:
        out.extras += _count(data, a, b, TAG, budget)
    elif eid == SEEKHEAD:
        pending.extend(seg_start + pos for pos in _seek_positions(data, a, b, budget))


def _seek_positions(data: bytes, start: int, end: int, budget: _Budget) -> list[int]:
    positions = []
    for eid, a, b in _elements(data, start, end, budget):
        if eid == SEEK and b > 0:
            for cid, c, d in _elements(data, a, b, budget):
                if cid == SEEK_POSITION and 0 < d - c <= 8:
                    positions.append(int.from_bytes(data[c:d], "big"))
    return positions


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class ContainerLimits:
    """What a clip the app accepts can declare. ``entries_per_second``: index entries over all tracks per second of
    the longest clip accepted (a clip at 240 fps with AAC audio has ~290 a second; 4,000 leaves room for a clip a few
    times too long to be refused for its duration, with the plain "too long" message, after FFmpeg read it)."""

    max_tracks: int = 16  # phones write 2–5 (video, audio, metadata, timecode)
    entries_per_second: float = 4_000  # 240,000 for 60 s: ~10 MB of FFmpeg index at most
    max_extras: int = 4_096


def declared(data: bytes, fmt: str) -> ContainerIndex:
    """The container's declared sizes; ``fmt`` is ``mp4`` or ``webm`` (``emotion.video.sniff_video``)."""
    try:
        return mp4_index(data) if fmt == "mp4" else matroska_index(data)
    except _TooMany:
        raise ImageRejected("invalid_video", f"This video file is built of more than {MAX_BOXES:,} pieces: no camera "
                                             "writes that. Export it again as an ordinary MP4 or WebM and upload that.") from None
    except (struct.error, ValueError, IndexError, RecursionError):  # nothing a camera writes gets here
        raise ImageRejected("invalid_video", "The structure of this video file could not be read: it is damaged or "
                                             "built in an unusual way. Export it again as an ordinary MP4 or WebM.") from None


def check_container(data: bytes, fmt: str, max_seconds: float, limits: ContainerLimits = ContainerLimits()) -> ContainerIndex:
    """Refuse, from the bytes alone, a container whose declared tracks or samples would cost FFmpeg far more memory
    to open than any clip of ``max_seconds`` could; return what it declares otherwise."""
    got = declared(data, fmt)
    if got.compressed_header:
        raise ImageRejected("unsupported_video", "This video's header is compressed (an old QuickTime feature) and "
                                                 "cannot be read safely. Export it again as MP4 and upload that.")
    if got.tracks > limits.max_tracks:
        raise ImageRejected("unsupported_video", f"This video has {got.tracks:,} tracks; at most {limits.max_tracks} are "
                                                 "accepted (a phone clip has 2 to 5). Export it again with one video "
                                                 "track and upload that.")
    if got.entries > max(1.0, max_seconds) * limits.entries_per_second:
        raise ImageRejected("video_too_long", f"This video declares {got.entries:,} frames and audio samples: far more "
                                              f"than a clip of at most {max_seconds:g} s holds. Upload a clip of at most "
                                              f"{max_seconds:g} s (trim it first), exported again as an ordinary MP4 or WebM.")
    if got.extras > limits.max_extras:
        raise ImageRejected("unsupported_video", f"This video carries {got.extras:,} chapters, tags or attachments; at "
                                                 f"most {limits.max_extras:,} are accepted. Export it again without them.")
    return got
