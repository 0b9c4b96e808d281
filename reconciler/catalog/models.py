"""The five Wan models, parameter by parameter, as the seed API pages describe them.

Each default, allowed value and range here is checked against the pages by
`tests/catalog/test_catalog_matches_seed_pages.py`; change both together.
"""

from __future__ import annotations

from typing import Final

from reconciler.catalog.types import Kind, Media, Model, Param

_WAN21_NEGATIVE = "blurry, bad quality, camera shake, distortion, poor composition, low resolution, artifact, watermark"

# The two Wan 2.1 pages (text and image to video) document these five parameters identically.
_WAN21_SHARED: Final = (
    Param(
        "video_length",
        Kind.INTEGER,
        "Length of the generated video in seconds",
        default=3,
        required=True,
        minimum=1,
        maximum=5,
    ),
    Param("base64", Kind.BOOLEAN, "Output as base64", default=False, transport_only=True),
    Param(
        "negative_prompt",
        Kind.STRING,
        "Negative prompt for video generation",
        default=_WAN21_NEGATIVE,
    ),
    Param("seed", Kind.INTEGER, "Seed number for video generation", default=42424242),
    Param(
        "steps",
        Kind.INTEGER,
        "Number of steps for video generation",
        default=30,
        minimum=10,
        maximum=70,
    ),
)


MODELS: Final[tuple[Model, ...]] = (
    Model(
        slug="wan2.1-t2v",
        title="Wan 2.1 Text to Video",
        task="text-to-video",
        avg_latency_s=104.8,
        avg_cost_usd=0.855,
        params=(
            Param("prompt", Kind.STRING, "Prompt for video generation", required=True),
            Param(
                "aspect_ratio",
                Kind.STRING,
                "Aspect Ratio of the output video",
                default="16:9",
                required=True,
                choices=("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9"),
            ),
            Param(
                "base_model",
                Kind.STRING,
                "Base model for video generation",
                default="14b",
                required=True,
                choices=("1.3b", "14b"),
            ),
            *_WAN21_SHARED,
        ),
    ),
    Model(
        slug="wan2.7-t2v",
        title="Wan 2.7 Text to Video",
        task="text-to-video",
        avg_latency_s=302.8,
        avg_cost_usd=0.625,
        params=(
            Param(
                "prompt",
                Kind.STRING,
                "Describe scene, subjects, motion, and camera style. Max 5000 chars.",
                required=True,
                max_length=5000,
            ),
            Param(
                "audio_url",
                Kind.URI,
                "URL to an audio file (MP3/WAV) to synchronize with the video.",
                default=None,
                local=Media.AUDIO,
            ),
            Param(
                "duration",
                Kind.INTEGER,
                "Length of the generated video in seconds (2-15).",
                default=5,
                minimum=2,
                maximum=15,
            ),
            Param(
                "negative_prompt",
                Kind.STRING,
                "List elements to exclude from the output (e.g., blurry, watermark, distorted faces).",
                default="blurry, low quality, distorted, watermark",
            ),
            Param(
                "ratio",
                Kind.STRING,
                "Aspect ratio of the output video.",
                default="16:9",
                choices=("16:9", "9:16", "1:1", "4:3", "3:4"),
            ),
            Param(
                "resolution",
                Kind.STRING,
                "Output resolution tier.",
                default="720P",
                choices=("720P", "1080P"),
            ),
            Param("seed", Kind.INTEGER, "Integer seed for reproducible outputs.", default=42),
        ),
    ),
    Model(
        slug="wan-2.5-t2v",
        title="Wan 2.5 Text to Video",
        task="text-to-video",
        avg_latency_s=213.5,
        avg_cost_usd=0.801,
        params=(
            Param(
                "prompt",
                Kind.STRING,
                "Input descriptive text for generation. Use vivid imagery for creative outputs "
                "or concise text for focused results.",
                required=True,
            ),
            Param(
                "audio",
                Kind.URI,
                "Upload audio for sync. Use a short loop for repetitive elements or music for dynamic output.",
                default=None,
                local=Media.AUDIO,
            ),
            Param(
                "duration",
                Kind.INTEGER,
                "Sets video length. Use 5s for short notes, 10s for comprehensive views.",
                default=5,
                choices=(5, 10),
            ),
            Param(
                "enable_prompt_expansion",
                Kind.BOOLEAN,
                "Toggle prompt enhancement. Use true for richer outputs or false for original input only.",
                default=True,
            ),
            Param(
                "negative_prompt",
                Kind.STRING,
                "Avoid specific elements in output. Mention unwanted elements for clarity.",
                default="No rainy scenes.",
            ),
            Param(
                "seed",
                Kind.INTEGER,
                "Sets random seed for consistency. Use 42 for default or randomize for new results.",
                default=42,
            ),
            Param(
                "size",
                Kind.STRING,
                "Determines video resolution. For high-quality use 1920x1080; for quick previews use 832x480.",
                default="1280*720",
                choices=("832*480", "480*832", "1280*720", "720*1280", "1920*1080", "1080*1920"),
            ),
        ),
    ),
    Model(
        slug="wan2.1-i2v-480p",
        title="Wan 2.1 Image to Video 480p",
        task="image-to-video",
        avg_latency_s=53.4,
        avg_cost_usd=0.530,
        params=(
            Param("image", Kind.URI, "Reference image for video generation", required=True, local=Media.IMAGE),
            Param("prompt", Kind.STRING, "Prompt for video generation", required=True),
            Param(
                "resolution",
                Kind.INTEGER,
                "Resolution of the generated video (longest side of the video)",
                default=480,
                required=True,
                choices=(360, 480, 576),
            ),
            *_WAN21_SHARED,
        ),
    ),
    Model(
        slug="wan-2.2-t2v-fast",
        title="Wan 2.2 Text to Video Fast",
        task="text-to-video",
        avg_latency_s=93.4,
        avg_cost_usd=0.099,
        params=(
            Param(
                "prompt",
                Kind.STRING,
                "Prompt describes the scene. Choose vivid and clear descriptions for best results.",
                required=True,
            ),
            Param(
                "aspect_ratio",
                Kind.STRING,
                "Aspect ratio of the video. 16:9 is standard, 9:16 for vertical.",
                default="16:9",
                choices=("16:9", "9:16"),
            ),
            Param(
                "frames_per_second",
                Kind.INTEGER,
                "Video FPS. 16 fps is balanced; increase for smoother motion.",
                default=16,
                minimum=5,
                maximum=24,
            ),
            Param(
                "go_fast",
                Kind.BOOLEAN,
                "Toggles speed of video creation. Set to true for quicker outputs.",
                default=True,
            ),
            Param(
                "high_noise_lora",
                Kind.URI,
                "URL to high noise LoRA model for style customization. Supports arbitrary "
                ".safetensors URLs from the Internet.",
                default=None,
            ),
            Param(
                "high_noise_lora_scale",
                Kind.NUMBER,
                "Controls high noise LoRA influence strength. 0.0 = disabled, 1.0 = full strength, 2.0 = maximum.",
                default=1,
                minimum=0,
                maximum=2,
            ),
            Param(
                "low_noise_lora",
                Kind.URI,
                "URL to low noise LoRA model for style customization. Supports arbitrary "
                ".safetensors URLs from the Internet.",
                default=None,
            ),
            Param(
                "low_noise_lora_scale",
                Kind.NUMBER,
                "Controls low noise LoRA influence strength. 0.0 = disabled, 1.0 = full strength, 2.0 = maximum.",
                default=1,
                minimum=0,
                maximum=2,
            ),
            Param(
                "negative_prompt",
                Kind.STRING,
                "Text describing what you want to avoid in the video. Helps improve quality by "
                "excluding unwanted elements.",
                default="",
            ),
            Param(
                "num_frames",
                Kind.INTEGER,
                "Total frames in the video. 81 frames offer optimal quality.",
                default=81,
                minimum=81,
                maximum=100,
            ),
            Param(
                "resolution",
                Kind.STRING,
                "Select video resolution. Choose 480p for faster renders, 720p for quality.",
                default="480p",
                choices=("480p", "720p"),
            ),
            Param(
                "sample_shift",
                Kind.NUMBER,
                "Controls frame sample shift. Increase for more motion variation.",
                default=12,
                minimum=1,
                maximum=20,
            ),
            Param(
                "seed",
                Kind.INTEGER,
                "Random seed for reproducibility. Use a fixed seed for consistent outputs or "
                "leave blank for randomness.",
                default=None,
            ),
        ),
    ),
)

BY_SLUG: Final[dict[str, Model]] = {m.slug: m for m in MODELS}
SLUGS: Final[tuple[str, ...]] = tuple(m.slug for m in MODELS)


def get(slug: str) -> Model | None:
    return BY_SLUG.get(slug)
