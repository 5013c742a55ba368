"""The measurement: what ffmpeg can do, the encodes (file and live), their progress, their quality,
and a scenario measured under the meter on one host (`measurer.Measurer`).

* `ffmpeg_probe`: the binary's encoders, filters and options; `preflight`: the checks before any encode;
* `commands`: every ffmpeg argv (pure), and the dry run's listing;
* `processes`: ffmpeg processes run and measured; `file_encode`, `live_encode`: the two modes;
  `encode_results`: what an encode measured;
* `progress`: progress read, shown and forwarded; `quality`: VMAF, PSNR, SSIM in one pass
  (`score`: `ffwatt score`); `media_probe`: what a media file is; `host_environment`: the
  results file's environment block.

The third floor of the runner's pipeline: plan -> meter -> measure -> execute -> record -> run.
"""
