"""Error codes of the API and the human message that goes with each (what to do, not what broke)."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "no_face_detected": "No face was found. Faces turned far to the side, covered (hands, masks, sunglasses) or very small "
                        "are missed: try a photo where the face looks towards the camera, or crop closer to it.",
    "invalid_image": "The file could not be read as an image. Upload an intact JPEG, PNG or WebP photo.",
    "unsupported_format": "Unsupported file type. Upload a JPEG, PNG or WebP image.",
    "file_too_large": "The file is too large. Upload an image under {max_mb:g} MB.",
    "image_too_small": "The image is too small to find a face. Upload a photo at least {min_side} pixels on each side.",
    "multiple_faces": "More than one face was found. Upload a photo with a single face.",
    "rate_limited": "Too many requests. Please wait a minute and try again.",
    "busy": "The server is busy. Please try again in a few seconds.",
    "too_many_files": "Too many files in one request: at most {max_files}.",
    "invalid_request": "The request could not be understood. Use the page, gradio_client or the documented API.",
    "timeout": "The request took too long. Try a smaller image.",
    "internal_error": "Something went wrong on our side. Please try again.",
    "unsupported_video": "Unsupported video type. Upload an MP4, WebM or MOV clip.",
    "invalid_video": "The file could not be read as a video: it is damaged, cut short or has no frames. Upload an intact "
                     "MP4, WebM or MOV clip.",
    "video_too_long": "This video is too long. Upload a shorter clip.",
}


class ImageRejected(Exception):
    """Raised inside the pipeline when an input cannot be processed; turned into an error result, never
    surfaced to a caller of ``EmotionRecognizer.predict``."""

    def __init__(self, code: str, message: str | None = None, **fmt):
        if code not in MESSAGES:
            raise ValueError(f"unknown error code {code}")
        self.code = code
        self.message = message or MESSAGES[code].format(**fmt)
        super().__init__(f"{code}: {self.message}")
