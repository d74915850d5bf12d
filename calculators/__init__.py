"""graphflow's calculators: sources, hand tracking, CAM, Mask R-CNN, renderer, sinks.

Models are plain ``torch.nn.Module``s that know nothing of graphflow; calculators adapt ports to them.
Importing this package imports nothing heavy: each subpackage's ``CALCULATORS`` table is read lazily.
"""
