"""Shared test settings."""

import torch

# Two torch threads slow down 3-11x on a 2-core machine as soon as another process is busy,
# so the suite runs single-threaded.
torch.set_num_threads(1)
