"""The models: `from youtube8m import models`.

This package face is what users import: `models.BaseModel`,
`models.register`, `models.define_flag`, `models.get_model_class`, ... (all
defined in `base`). Importing it also imports the built-in model modules, so
that their classes are registered by name; `base` itself never imports a
subclass, so the registry has no import circle.
"""

# The built-in models: importing them registers them.
from youtube8m.models import frame_level_models
from youtube8m.models import nextvlad_models
from youtube8m.models import pooling_models
from youtube8m.models import recurrent_models
from youtube8m.models import temporal_models
from youtube8m.models import video_level_models
# pylint: disable=unused-import
from youtube8m.models.base import bad_flag
from youtube8m.models.base import BaseModel
from youtube8m.models.base import boolean
from youtube8m.models.base import build_model
from youtube8m.models.base import check_model_flags
from youtube8m.models.base import choice
from youtube8m.models.base import define_flag
from youtube8m.models.base import fraction
from youtube8m.models.base import get_model_class
from youtube8m.models.base import model_flag_defaults
from youtube8m.models.base import MODEL_FLAGS
from youtube8m.models.base import ModelFlag
from youtube8m.models.base import non_negative
from youtube8m.models.base import positive
from youtube8m.models.base import positive_int
from youtube8m.models.base import register
from youtube8m.models.base import registered_names
from youtube8m.models.base import video_level_model
