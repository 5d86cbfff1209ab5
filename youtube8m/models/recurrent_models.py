"""Recurrent frame models: a (bidirectional) GRU and an attention LSTM.

`GruModel`: stacked GRUs (Cho et al., "Learning Phrase Representations
using RNN Encoder-Decoder for Statistical Machine Translation", EMNLP 2014,
arXiv:1406.1078), forward or bidirectional, over the valid frames; the
final states are classified. GRUs were among the 2017 leaders' models
(Willow's ensemble, arXiv:1706.06905; Baidu's, arXiv:1707.04555). Keras'
GRU applies the reset gate after the recurrent matmul (`reset_after`, the
cuDNN form), a variant of Cho et al.'s equations.

`AttentionLstmModel`: a bidirectional LSTM (Hochreiter and Schmidhuber
1997) whose outputs are pooled with learned attention weights over time,
in the spirit of the attention LSTM of Baidu's 2017 entry (Li et al.,
"Temporal Modeling Approaches for Large-scale Youtube-8M Video
Understanding", arXiv:1707.04555) as PaddleVideo ships it (a linear score
per frame, softmax over the frames, weighted sum of the outputs), without
its two separate rgb and audio streams and its hidden layers: the pooled
vector goes straight to `--video_level_classifier_model`.

Frame selection (`--sampled_frames`, `--sample_random_frames`), input and
output shapes: see temporal_models.py. Masked frames leave the recurrent
states unchanged (the backward direction starts at each video's last
valid frame), so padding changes nothing. The train step is not compiled
with XLA (`jit_compile`): XLA keeps every time step's buffers of a masked
recurrence (LstmModel: 15 GB for a batch of 16 on CPU).
"""

import keras

from youtube8m.models import attention_layers
from youtube8m.models import base
from youtube8m.models import temporal_models

# Flags: catalog.py (gru_*, attention_lstm_cells, sampled_frames).


@base.register
class GruModel(temporal_models.TemporalModel):
  """`gru_layers` GRUs over the frames in order; the top layer's final
  states (forward: at the last valid frame; backward: at the first),
  concatenated, go to the classifier. [B, T, D] -> [B, num_classes]."""

  def __init__(self, num_classes, gru_cells=256, gru_layers=1,
               gru_bidirectional=True, sampled_frames=0,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel", **model_flags):
    base.check_model_flags(gru_cells=gru_cells, gru_layers=gru_layers,
                           gru_bidirectional=gru_bidirectional)
    super().__init__(num_classes, sampled_frames, sample_random_frames,
                     video_level_classifier_model, model_flags)
    self.num_layers = int(gru_layers)
    # One attribute per layer: tf.train.Checkpoint does not see layers kept
    # in a Python list on a Keras 3 model.
    for i in range(self.num_layers):
      gru = keras.layers.GRU(int(gru_cells),
                             return_sequences=i < self.num_layers - 1,
                             name=f"gru_{i}")
      if gru_bidirectional:
        gru = keras.layers.Bidirectional(gru, name=f"gru_{i}")
      setattr(self, f"gru_{i}", gru)

  def encode(self, frames, positions, valid, training):
    """frames [B, K, D] -> [B, gru_cells (x 2 bidirectional)]."""
    del positions  # the recurrence sees the order itself
    outputs = frames
    for i in range(self.num_layers):
      outputs = getattr(self, f"gru_{i}")(outputs, mask=valid,
                                          training=training)
    return outputs


@base.register
class AttentionLstmModel(temporal_models.TemporalModel):
  """A bidirectional LSTM over the frames in order, its outputs [B, K,
  2 x attention_lstm_cells] pooled by learned attention weights over the
  valid frames, then the classifier. [B, T, D] -> [B, num_classes]."""

  def __init__(self, num_classes, attention_lstm_cells=256, sampled_frames=0,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel", **model_flags):
    base.check_model_flags(attention_lstm_cells=attention_lstm_cells)
    super().__init__(num_classes, sampled_frames, sample_random_frames,
                     video_level_classifier_model, model_flags)
    self.lstm = keras.layers.Bidirectional(
        keras.layers.LSTM(int(attention_lstm_cells), return_sequences=True),
        name="lstm")
    self.attention = attention_layers.AttentionPooling(name="attention")

  def encode(self, frames, positions, valid, training):
    """frames [B, K, D] -> [B, 2 x attention_lstm_cells]."""
    del positions
    outputs = self.lstm(frames, mask=valid, training=training)
    return self.attention(outputs, valid)
