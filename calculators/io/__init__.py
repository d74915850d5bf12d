"""io calculators: sources, the renderer and sinks. ``CALCULATORS`` maps registered names to classes, imported lazily.

OpenCV's BGR order never enters a graph: ``frame_reader.py`` converts decoded frames to RGB, and the display and
video/image sinks convert back to BGR on the way out. Everything in between is (H, W, 3) uint8 RGB.
"""

CALCULATORS: dict[str, str] = {
    "VideoSource": "calculators.io.video_source:VideoSourceCalculator",
    "Renderer": "calculators.io.renderer:RendererCalculator",
    "WindowSink": "calculators.io.window_sink:WindowSinkCalculator",
    "VideoWriterSink": "calculators.io.video_writer_sink:VideoWriterSinkCalculator",
    "ImageFolderSink": "calculators.io.image_folder_sink:ImageFolderSinkCalculator",
    "JsonlSink": "calculators.io.jsonl_sink:JsonlSinkCalculator",
    "CallbackSink": "calculators.io.callback_sink:CallbackSinkCalculator",
    "RerunSink": "calculators.io.rerun_sink:RerunSinkCalculator",
    "McapRecorder": "calculators.record.record_sink:McapRecorderCalculator",
    "ReplaySource": "calculators.record.replay_source:ReplaySourceCalculator",
}
