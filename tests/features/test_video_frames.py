"""video_frames' steps on their own: which frames are taken, and batching.

The decoder as a whole is tested on real files in test_extract_features.py;
here the frame selector gets frames with chosen timestamps (variable frame
rates that an encoder would not easily write) and the batcher real PyAV
frames.
"""

import collections
import fractions

import av
import numpy as np

from youtube8m.features import video_frames

# What the selector reads of a decoded frame or a packet.
Stamped = collections.namedtuple("Stamped", "pts time_base name")
MS = fractions.Fraction(1, 1000)


def _frames(milliseconds):
  return [Stamped(t, MS, f"f{t}") for t in milliseconds]


def _select(milliseconds, period, max_frames=100, default_duration=None):
  selector = video_frames.FrameSelector(fractions.Fraction(period),
                                        max_frames, default_duration)
  taken = []
  for frame in _frames(milliseconds):
    taken += [f.name for f in selector.take(frame)]
  return taken, selector


def test_the_nearest_frame_is_taken_at_a_variable_frame_rate():
  # Frames at 0, 0.3, 0.9, 1.6, 2.0 s; targets every 0.5 s.
  taken, selector = _select([0, 300, 900, 1600, 2000], "1/2")
  # 0.5: 0.3 is nearer than 0.9; 1.0: 0.9; 1.5: 1.6; 2.0: 2.0.
  assert taken == ["f0", "f300", "f900", "f1600", "f2000"]
  # The video ends one frame duration (the shortest gap, 0.3 s) after its
  # last frame: 2.5 s is past it, so nothing more is taken.
  assert selector.step == fractions.Fraction(3, 10)
  assert selector.at_end(MS) == [] and selector.k == 5


def test_ties_go_to_the_earlier_frame_and_the_end_repeats_the_last():
  taken, selector = _select([0, 1000], "1/2")  # 0.5 is as near to both
  assert taken == ["f0", "f0", "f1000"]
  # End of stream at 2 s (1 s frames): 1.5 s is before it, 2.0 s is not.
  assert [f.name for f in selector.at_end(MS)] == ["f1000"]
  assert selector.k == 4


def test_max_frames_stops_the_selection():
  taken, selector = _select(range(0, 5000, 100), "1", max_frames=3)
  assert taken == ["f0", "f1000", "f2000"] and selector.done
  assert selector.at_end(MS) == []


def test_frames_far_from_every_target_are_not_needed():
  selector = video_frames.FrameSelector(fractions.Fraction(1), 10, None)
  packet = Stamped(500, MS, "p")
  assert selector.needed(packet)  # nothing decoded yet: no t0, no duration
  for frame in _frames([0, 100]):  # 10 fps: decode within 0.15 s of a target
    selector.take(frame)
  assert not selector.needed(Stamped(500, MS, "p"))
  assert selector.needed(Stamped(900, MS, "p"))
  assert selector.needed(Stamped(1140, MS, "p"))
  assert not selector.needed(Stamped(1160, MS, "p"))
  assert selector.needed(Stamped(None, MS, "p"))  # no time: decode it
  # Past max_frames nothing is needed.
  done = video_frames.FrameSelector(fractions.Fraction(1), 1, None)
  for frame in _frames([0, 100]):
    done.take(frame)
  assert done.done and not done.needed(Stamped(1000, MS, "p"))


def _video_frame(value, width=8, height=6):
  image = np.full([height, width, 3], value, np.uint8)
  return av.VideoFrame.from_ndarray(image, format="rgb24")


def test_batches_break_at_their_size_bytes_and_a_new_frame_size():
  batcher = video_frames.Batcher(batch_frames=3, batch_bytes=10 ** 6)
  frames = [_video_frame(v) for v in (10, 20, 30, 40)]
  out = []
  for frame in frames:
    out += batcher.add(frame)
  assert [b.shape for b in out] == [(3, 6, 8, 3)]
  out += batcher.add(_video_frame(50, width=4))  # another size: a new batch
  out += batcher.flush()
  assert [b.shape for b in out] == [(3, 6, 8, 3), (1, 6, 8, 3),
                                    (1, 6, 4, 3)]
  assert [b[:, 0, 0, 0].tolist() for b in out] == [[10, 20, 30], [40], [50]]
  assert batcher.flush() == []
  # Two 144-byte frames fit in 300 bytes, a third does not.
  batcher = video_frames.Batcher(batch_frames=32, batch_bytes=300)
  out = []
  for frame in frames:
    out += batcher.add(frame)
  out += batcher.flush()
  assert [len(b) for b in out] == [2, 2]
  # One frame taken twice in a row is both rows of its batch.
  frame = _video_frame(77)
  batcher = video_frames.Batcher(batch_frames=2, batch_bytes=10 ** 6)
  (batch,) = batcher.add(frame) + batcher.add(frame)
  assert (batch == 77).all() and batch.shape == (2, 6, 8, 3)
