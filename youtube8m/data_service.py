r"""Starts a tf.data service server: `python -m youtube8m.data_service ROLE`.

  python -m youtube8m.data_service dispatcher --port=5050
  python -m youtube8m.data_service worker --port=5051 \
      --dispatcher_address=DISPATCHER_HOST:5050 --worker_address=$(hostname):5051
  python train.py ... --data_service_address=DISPATCHER_HOST:5050

ROLE (or --role=ROLE) is `dispatcher`, `worker`, or `tf_config` (Vertex
AI: the role this replica of worker pool 2 has in TF_CONFIG, see
configs/train-data-service.yaml). The server runs until the process is
stopped (SIGTERM: exit 143, Ctrl-C: 130). Workers read the training files
themselves: give them the same paths (gs:// works everywhere). See
youtube8m/data/data_service.py.
"""

import threading

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.data import data_service_config

FLAGS = flags.FLAGS
settings.define_flags(data_service_config.DataServiceConfig)


def main(argv):
  role = FLAGS.role
  if len(argv) == 2 and not role:
    role = argv[1]
  elif len(argv) > 1:
    raise cli.UsageError(f"unexpected arguments {argv[1:]}: give the role "
                         "once")
  roles = data_service_config.ROLES
  if role not in roles:
    raise cli.UsageError(f"give one role: {' | '.join(roles)}")
  config = settings.validate(settings.from_flags(
      data_service_config.DataServiceConfig, role=role))
  # TensorFlow only now: the settings were checked without it.
  from youtube8m.data import data_service  # pylint: disable=g-import-not-at-top
  from youtube8m.training import distribution  # pylint: disable=g-import-not-at-top
  server = data_service.run(config, distribution.tf_config())
  # The server's join() waits in C++, where Python's signal handlers never
  # run, so SIGTERM (a scheduler stopping the pool) would be ignored: wait
  # in Python instead, and cli.run turns the signal into a logged exit 143.
  waiter = threading.Thread(target=server.join, daemon=True)
  waiter.start()
  while waiter.is_alive():
    waiter.join(timeout=1.0)


if __name__ == "__main__":
  cli.run(main)
