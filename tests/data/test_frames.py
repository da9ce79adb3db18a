"""Issue 4: where each corpus item's frames come from, the frame cache ``cslr extract --frames`` writes,
and the checks on it (missing cache, frames and keypoints of different lengths)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cslr.cli import main
from cslr.config import DataConfig, ModelConfig
from cslr.data.corpora import CorpusItem, cache_name, load_corpus, read_manifest
from cslr.data.datasets import build_training_data
from cslr.data.frames import FrameFileWriter, frames_path, load_item_video
from cslr.data.rgb import VideoSentence, VideoSequenceDataset
from cslr.data.vocab import Vocabulary
from cslr.model.inputs import frame_side, model_frames
from cslr.pose.io import load_keypoints, save_keypoints
from cslr.pose.keypoints import Keypoints
from cslr.pose.synth import SyntheticSigner
from cslr.video import read_video
from tests.data import corpus_fixtures as fx

SIDE = 32


def test_every_layout_says_where_its_frames_are(shared_data: Path, tmp_path: Path) -> None:
    fx.phoenix2014(tmp_path / "p14", shared_data, per_split=1)
    fx.phoenix2014t(tmp_path / "p14t", shared_data, per_split=1)
    fx.csl_daily(tmp_path / "csl", shared_data, per_split=1)
    roots = {
        "phoenix2014": tmp_path / "p14" / "phoenix2014-release",
        "phoenix2014t": tmp_path / "p14t" / "PHOENIX-2014-T-release-v3",
        "csl-daily": tmp_path / "csl",
    }
    for fmt, root in roots.items():
        items = load_corpus(fmt, root)
        assert len(items) == 3, fmt
        for item in items:
            assert item.frames_source == item.media and (item.media / "images0001.png").is_file(), fmt
    phoenix2014 = load_corpus("phoenix2014", roots["phoenix2014"])[0]
    assert phoenix2014.media.name == "1"  # PHOENIX-2014 keeps its frames one level down, in 1/


def test_manifest_frames_column(tmp_path: Path) -> None:
    rows = [
        {"path": "clips/a.mp4", "gloss": "A"},  # the video itself
        {"path": "kp/b.npz", "frames": "frames/b", "gloss": "B"},  # keypoints, frames beside them
        {"path": "kp/c.pose", "gloss": "C"},  # keypoints only
        {"video": "/data/d.webm", "gloss": "D"},  # `video` as the only media column
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b, c, d = read_manifest(tmp_path / "m.jsonl")
    assert a.frames_source == tmp_path / "clips" / "a.mp4" and a.video is None
    assert b.is_keypoints and b.frames_source == tmp_path / "frames" / "b"
    assert c.frames_source is None
    assert d.frames_source == Path("/data/d.webm")


def test_frame_side_follows_the_model() -> None:
    assert frame_side(ModelConfig()) is None  # pose only: no frames
    assert frame_side(ModelConfig(streams=("rgb",), rgb_size=112)) == 112
    assert frame_side(ModelConfig(streams=("pose", "rgb"), rgb_size=112, rgb_rois=("face",))) == 224


def test_model_frames_of_a_real_frame(real_video: Path) -> None:
    frame = read_video(real_video).frames[30]  # (240, 320, 3)
    small = _square(frame, SIDE)
    assert small.shape == (3, SIDE, SIDE) and small.dtype == np.uint8
    assert np.abs(small.reshape(3, -1).mean(1) - frame.reshape(-1, 3).mean(0)).max() < 2.0  # colours kept
    assert _square(np.ascontiguousarray(frame[:SIDE, :SIDE]), SIDE).shape == (3, SIDE, SIDE)


def _item_with_cache(video: Path, tmp_path: Path, frames: int, keypoints: int) -> tuple[CorpusItem, Path]:
    """An item whose cache holds ``keypoints`` frames of (synthetic) keypoints and ``frames`` frames of
    a real video."""
    cache = tmp_path / "cache"
    item = CorpusItem("train/clip 01", video, ("HOUSE",))
    kp, _ = SyntheticSigner(2, seed=0).sentence([0, 1], np.random.default_rng(0))
    cache.mkdir()
    save_keypoints(Keypoints(kp.xyz[:keypoints], kp.conf[:keypoints], kp.fps), cache / cache_name(item.id))
    path = frames_path(cache, item.id, SIDE)
    path.parent.mkdir()
    np.save(path, np.stack([_square(f, SIDE) for f in read_video(video).frames[:frames]]))
    return item, cache


def test_cached_video_is_memory_mapped_and_read_per_item(real_video: Path, tmp_path: Path) -> None:
    item, cache = _item_with_cache(real_video, tmp_path, 10, 10)
    video = load_item_video(item, cache, SIDE)
    assert isinstance(video, VideoSentence) and isinstance(video.frames, np.memmap)
    assert len(video.keypoints) == len(video.frames) == 10
    dataset = VideoSequenceDataset([video], Vocabulary.from_glosses(["HOUSE"]))
    features, frames, boxes, targets = dataset[0]
    assert features.shape == (10, 300) and boxes is None and targets.tolist() == [1]
    assert frames.shape == (10, 3, SIDE, SIDE) and np.array_equal(frames.numpy(), video.frames)
    frames += 1  # a copy: the cache file is never written through
    assert np.array_equal(np.load(frames_path(cache, item.id, SIDE)), video.frames)


def test_frames_and_keypoints_of_different_lengths_are_an_error(real_video: Path, tmp_path: Path) -> None:
    item, cache = _item_with_cache(real_video, tmp_path, 9, 10)
    with pytest.raises(ValueError, match=r"train/clip 01: 9 cached frames but 10 frames of keypoints"):
        load_item_video(item, cache, SIDE)


def test_missing_frame_cache_names_the_command(shared_data: Path, tmp_path: Path) -> None:
    fx.phoenix2014t(tmp_path, shared_data, per_split=1)
    root, cache = tmp_path / "PHOENIX-2014-T-release-v3", tmp_path / "cache"
    cfg = DataConfig(source="phoenix2014t", path=str(root), cache_dir=str(cache))
    with pytest.raises(FileNotFoundError) as err:
        build_training_data(cfg, frames=64)
    assert "3 of 3 items have no 64x64 frame cache" in str(err.value)
    assert f"run `cslr extract {root} -o {cache} --frames 64` first" in str(err.value)
    with pytest.raises(ValueError, match="has no video frames"):
        build_training_data(DataConfig(source="synth"), frames=64)


@pytest.mark.slow
def test_extract_frames_of_a_manifest_of_real_videos(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = {name: shared_data / "video" / f"{name}.mp4" for name in ("asl_house", "asl_different")}
    woman = shared_data / "video" / "pose-format-test-video.mp4"
    for path in [*videos.values(), woman]:
        if not path.exists():
            pytest.skip(f"{path} missing")
    # one clip's keypoints made beforehand (`cslr extract VIDEO -o`), its video named in `frames`
    assert main(["extract", str(woman), "-o", str(tmp_path / "woman.npz"), "--workers", "1"]) == 0
    kp = load_keypoints(tmp_path / "woman.npz")
    cut = Keypoints(kp.xyz[:-3], kp.conf[:-3], kp.fps)  # keypoints of a shorter cut: cannot pair
    save_keypoints(cut, tmp_path / "woman-cut.npz")
    lines = [
        "id,path,frames,gloss,split",
        f"house,{videos['asl_house']},,HOUSE,train",
        f"different,{videos['asl_different']},,DIFFERENT,dev",
        f"woman,woman.npz,{woman},HOUSE DIFFERENT,test",
        f"woman-cut,woman-cut.npz,{woman},HOUSE,test",
        "keypoints-only,woman.npz,,HOUSE,test",
    ]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    cache = tmp_path / "keypoints"  # the default cache of a manifest: keypoints/ beside it
    decoded = sum(len(read_video(v)) for v in videos.values())  # at 25 fps
    capsys.readouterr()
    assert (
        main(["extract", str(tmp_path / "m.csv"), "-o", str(cache), "--frames", str(SIDE), "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        f"extracted 3 items ({decoded + len(kp)} frames), 0 already cached, 0 already keypoints, 2 failed"
        in out
    )
    assert (
        f"FAILED woman-cut ({woman}): ValueError: {len(kp)} frames decoded but the item's keypoints have"
        in out
    )
    assert "FAILED keypoints-only" in out and "no video or frame folder" in out
    failed = [json.loads(x)["id"] for x in (cache / "failures-0of1.jsonl").read_text().splitlines()]
    assert sorted(failed) == ["keypoints-only", "woman-cut"]

    items = {i.id: i for i in read_manifest(tmp_path / "m.csv")}
    for name in ("house", "different", "woman"):
        video = load_item_video(items[name], cache, SIDE)
        assert len(video.frames) == len(video.keypoints)
        decoded = read_video(items[name].frames_source).frames  # 25 fps, as the keypoints
        assert len(decoded) == len(video.frames)
        assert np.array_equal(
            video.frames[len(decoded) // 2], _square(decoded[len(decoded) // 2], SIDE)
        )
    assert not (cache / cache_name("woman")).exists()  # its keypoints are the manifest's file

    (tmp_path / "m.csv").write_text("\n".join(lines[:4]) + "\n")
    data = build_training_data(DataConfig(source="manifest", path=str(tmp_path / "m.csv")), frames=SIDE)
    assert data.train[0].glosses == ("HOUSE",) and data.test[0].glosses == ("HOUSE", "DIFFERENT")
    assert isinstance(data.dev[0], VideoSentence) and data.dev[0].frames.shape[1:] == (3, SIDE, SIDE)


def _square(frame: np.ndarray, side: int) -> np.ndarray:
    """One decoded frame as the cache stores it."""
    return model_frames(frame[None], side)[0]


@pytest.mark.parametrize("frames", [0, 1, 7, 130])
def test_frame_file_writer_streams_a_loadable_npy(tmp_path: Path, frames: int) -> None:
    """Frames written one by one read back as one (T, 3, S, S) array, memory-mapped too."""
    rng = np.random.default_rng(frames)
    video = rng.integers(0, 256, (frames, 3, 8, 8), dtype=np.uint8)
    writer = FrameFileWriter(tmp_path / "clip.npy", 8)
    for frame in video:
        writer.append(frame)
    path = writer.close()
    for mode in (None, "r"):
        loaded = np.load(path, mmap_mode=mode)
        assert loaded.shape == (frames, 3, 8, 8) and loaded.dtype == np.uint8
        np.testing.assert_array_equal(loaded, video)
    with pytest.raises(ValueError, match="uint8"):
        FrameFileWriter(tmp_path / "bad.npy", 8).append(np.zeros((3, 4, 4), np.uint8))
