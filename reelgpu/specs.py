"""The parameter contract of each export, as pydantic models: the single source of truth.

Exports, the CLI, the RunPod handler and ``reelgpu schema NAME`` all derive from these models;
no other module keeps a list of parameters. Keys are accepted in snake_case and in the
camelCase the editor sends (``radiusX``, ``startTime``, ``trimRange``...). Unknown keys are
rejected with the key named, except inside ``meta`` (free-form, echoed back).

Size limits (keyframes per clip, clips, text layers, text length) are not enforced here but in
:mod:`reelgpu.limits`, so they raise ``LimitExceeded`` rather than ``InvalidSpec``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from . import spec_schema
from .errors import InvalidSpec

HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Opacity = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
# Numbers in strings are bounded in digits: Fraction("1e99999999") computes 10**99999999 (minutes of
# CPU) and int() refuses over 4300 digits. 9 digits cover "30000/1001", "29.97" and any real ratio.
RATIONAL = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,9})?(/[0-9]{1,9})?$")


def _shown(value: Any) -> str:
    """repr() for messages; a huge int's repr is itself an error past 4300 digits."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of about {int(abs(value).bit_length() * 0.30103)} digits"
    return repr(value)[:60]


def _utf8(value: str) -> str:
    """Text that goes into output files (chapter titles, metadata, the sidecar) must be valid
    Unicode: JSON's "\\ud800" escape makes a lone surrogate, which UTF-8 cannot encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode (a lone surrogate at character {exc.start})") from None
    return value


def _plain_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``meta`` is echoed back and written into the annotate sidecar: it must be plain JSON."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        reason = "a lone surrogate" if isinstance(exc, UnicodeEncodeError) else str(exc)[:80]
        raise ValueError(f"must be plain JSON (finite numbers, valid Unicode): {reason}") from None
    return value


def _json_id(value: str | int | None) -> str | int | None:
    """An id or sequence number echoed into the sidecar: valid Unicode, or an integer within 64
    bits (as the handler's JSON integers; json.dumps refuses ints past 4300 digits)."""
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError(f"{_shown(value)} is outside the 64-bit integer range")
    return value


Text = Annotated[str, AfterValidator(_utf8)]
JsonId = Annotated[str | int | None, AfterValidator(_json_id)]
Meta = Annotated[dict[str, Any] | None, AfterValidator(_plain_json)]


class _Model(BaseModel):
    """Strict base: snake_case or camelCase keys, unknown keys rejected, and JSON's types as
    they are (no "1" for 1, "yes" for true, or a tuple for a list): what ``reelgpu schema``
    says is exactly what is accepted."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        strict=True,
    )


def _check_color(value: str | None) -> str | None:
    if value is not None and not HEX_COLOR.match(value):
        raise ValueError(f"colour must be '#RRGGBB', got {value!r}")
    return value


# --------------------------------------------------------------------------- encoding
class EncodeSettings(_Model):
    """Video/audio encoder settings shared by all exports."""

    codec: Literal["h264", "hevc"] = "h264"
    crf: int = Field(default=18, ge=0, le=51, description="x264/x265 constant rate factor (CPU encoder)")
    cq: int = Field(default=19, ge=0, le=51, description="NVENC constant quality (GPU encoder)")
    preset: str | None = Field(
        default=None, description="x264 preset (default 'fast') or NVENC preset p1..p7 (default 'p4')"
    )
    audio_bitrate: str = Field(default="192k", pattern=r"^[1-9][0-9]{1,3}k$")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        x264 = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
        nvenc = {f"p{i}" for i in range(1, 8)}
        if value is not None and value not in x264 | nvenc:
            raise ValueError(f"unknown preset {value!r}; use one of {sorted(x264)} or p1..p7")
        return value

    @property
    def audio_bitrate_bps(self) -> int:
        return int(self.audio_bitrate[:-1]) * 1000


# --------------------------------------------------------------------------- framing
class CropKeyframe(_Model):
    """A crop box at a time on the untrimmed clip timeline: top-left x, y and size, in source pixels."""

    time: NonNegFloat | None = Field(default=None, description="seconds from the clip start")
    frame: NonNegFloat | None = Field(default=None, description="frame index at the source fps (instead of time)")
    x: FiniteFloat
    y: FiniteFloat
    width: PosFloat
    height: PosFloat
    origin: str | None = Field(default=None, description="editor bookkeeping ('permanent', 'user', 'trim'); ignored")

    @model_validator(mode="after")
    def _time_or_frame(self) -> CropKeyframe:
        if (self.time is None) == (self.frame is None):
            raise ValueError("give exactly one of 'time' or 'frame'")
        return self


class SpeedSegment(_Model):
    start: NonNegFloat
    end: NonNegFloat
    speed: float = Field(default=1.0, gt=0, le=4, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> SpeedSegment:
        if self.end <= self.start:
            raise ValueError(f"segment end ({self.end}) must be after its start ({self.start})")
        return self


def _trim_range_from_any(value: Any) -> Any:
    """``trimRange`` arrives as ``{start, end}`` or ``[start, end]``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError("trimRange as a list must be [start, end]")
        return {"start": value[0], "end": value[1]}
    return value


class TrimRange(_Model):
    start: NonNegFloat
    end: NonNegFloat


class SegmentData(_Model):
    """Trim and speed segments of one clip, in clip seconds."""

    trim_start: NonNegFloat | None = None
    trim_end: NonNegFloat | None = None
    trim_range: TrimRange | None = None
    segments: list[SpeedSegment] = Field(default_factory=list)

    @field_validator("trim_range", mode="before")
    @classmethod
    def _trim_list(cls, value: Any) -> Any:
        return _trim_range_from_any(value)

    @model_validator(mode="after")
    def _consistent(self) -> SegmentData:
        start, end = self.trim
        if end is not None and end <= start:
            raise ValueError(f"trim end ({end}) must be after trim start ({start})")
        for a, b in zip(self.segments, self.segments[1:]):
            if b.start < a.end - 1e-9:
                raise ValueError("segments must be sorted and must not overlap")
        return self

    @property
    def trim(self) -> tuple[float, float | None]:
        """(start, end or None) in clip seconds; ``trimRange`` wins over trim_start/trim_end."""
        if self.trim_range is not None:
            return self.trim_range.start, self.trim_range.end
        return (self.trim_start or 0.0), self.trim_end


class FramingClip(_Model):
    source_key: str | None = Field(default=None, description="source of this clip; default: the job's input")
    source_start_time: NonNegFloat = 0.0
    source_end_time: NonNegFloat | None = None
    keyframes: list[CropKeyframe] = Field(default_factory=list)
    segment_data: SegmentData | None = None
    rotation: FiniteFloat = Field(default=0.0, description="degrees, counter-clockwise positive")
    # Informational fields the editor sends; accepted so real payloads validate, otherwise unused.
    clip_index: int | None = None
    clip_name: str | None = None
    duration: NonNegFloat | None = None

    @model_validator(mode="after")
    def _source_range(self) -> FramingClip:
        if self.source_end_time is not None and self.source_end_time <= self.source_start_time:
            raise ValueError(
                f"source_end_time ({self.source_end_time}) must be after source_start_time ({self.source_start_time})"
            )
        return self


class Transition(_Model):
    type: Literal["cut", "fade", "dissolve"] = "cut"
    duration: float = Field(default=0.5, ge=0, le=10, allow_inf_nan=False)


# The clip fields a one-clip framing job may give at top level (FramingSpec's shorthand).
SHORTHAND_CLIP_KEYS = frozenset({"keyframes", "segment_data", "segmentData", "rotation", "source_start_time",
                                 "sourceStartTime", "source_end_time", "sourceEndTime"})


def parse_rational(value: float | int | str) -> Fraction:
    """'30000/1001', '29.97', 30 -> Fraction, limited to a sane denominator."""
    frac = Fraction(str(value)) if isinstance(value, str) else Fraction(value)
    return frac.limit_denominator(1001)


class FramingSpec(_Model):
    """Parameters of the framing export (CONTRACT.md, Framing)."""

    clips: list[FramingClip] = Field(min_length=1)
    target_width: int | None = Field(default=None, gt=0)
    target_height: int | None = Field(default=None, gt=0)
    aspect_ratio: str = Field(default="9:16", pattern=r"^[1-9][0-9]{0,5}:[1-9][0-9]{0,5}$",
                              description="W:H, whole numbers of at most 6 digits")
    upscale_factor: float = Field(default=4.0, gt=0, le=16, allow_inf_nan=False)
    fps: float | str | None = Field(default=None, description="output rate, e.g. 30 or '30000/1001'; default: source")
    interpolation: Literal["catmull_rom", "linear"] = "catmull_rom"
    include_audio: bool = True
    transition: Transition = Field(default_factory=Transition)
    encode: EncodeSettings = Field(default_factory=EncodeSettings)
    meta: Meta = None

    @model_validator(mode="before")
    @classmethod
    def _single_clip_shorthand(cls, data: Any) -> Any:
        """Accept ``{keyframes, segment_data, rotation, ...}`` at top level as a one-clip job."""
        if isinstance(data, dict) and "clips" not in data:
            clip = {k: data[k] for k in list(data) if k in SHORTHAND_CLIP_KEYS}
            rest = {k: v for k, v in data.items() if k not in SHORTHAND_CLIP_KEYS}
            return {**rest, "clips": [clip]}
        return data

    @field_validator("fps", mode="before")
    @classmethod
    def _fps_ok(cls, value: Any) -> Any:
        if isinstance(value, bool):  # an int to Python: True rendered at 1 fps, False at the source's
            raise ValueError(f"fps must be a number or 'num/den', got {value!r}")
        if value is None or not isinstance(value, (int, float, str)):
            return value  # the type check that follows names the problem
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"fps must be a finite number, got {value!r}")  # Fraction(inf) is an OverflowError
        if isinstance(value, str) and not RATIONAL.match(value):
            raise ValueError(f"fps must be a number or 'num/den' (at most 9 digits each), got {_shown(value)}")
        try:
            rate = parse_rational(value)
        except ZeroDivisionError:
            raise ValueError(f"fps must be a number or 'num/den', got {value!r}") from None
        if not 1 <= rate <= 240:
            raise ValueError(f"fps must be within 1..240, got {_shown(value)}")
        return value

    @model_validator(mode="after")
    def _even_target(self) -> FramingSpec:
        for name in ("target_width", "target_height"):
            v = getattr(self, name)
            if v is not None and v % 2:
                raise ValueError(f"{name} must be even (4:2:0 video), got {v}")
        if (self.target_width is None) != (self.target_height is None):
            raise ValueError("give both target_width and target_height, or neither")
        return self

    @property
    def fps_rational(self) -> Fraction | None:
        return None if self.fps is None else parse_rational(self.fps)

    @property
    def aspect(self) -> Fraction:
        w, h = self.aspect_ratio.split(":")
        return Fraction(int(w), int(h))


# --------------------------------------------------------------------------- overlay
class HighlightKeyframe(_Model):
    """Ellipse centre (x, y) and radii in pixels of the video, at ``time`` seconds."""

    time: NonNegFloat
    x: FiniteFloat
    y: FiniteFloat
    radius_x: NonNegFloat = Field(alias="radiusX")
    radius_y: NonNegFloat = Field(alias="radiusY")
    stroke_opacity: Opacity | None = None
    fill_opacity: Opacity | None = None
    opacity: Opacity | None = Field(default=None, description="legacy: maps to fillOpacity")
    # null is the default white, as the editor's renderer draws it; "no colour" is the whole
    # export's highlight_color "none", never a keyframe's. (Never None once parsed; the type
    # says null so that the JSON Schema accepts what the model accepts.)
    color: str | None = "#FFFFFF"

    @field_validator("color", mode="before")
    @classmethod
    def _keyframe_color(cls, value: object) -> str:
        if value is None:
            return "#FFFFFF"
        if not isinstance(value, str):  # checked before pydantic's own type check runs
            raise ValueError(f"colour must be '#RRGGBB', got {value!r}")
        return _check_color(value)

    @model_validator(mode="after")
    def _legacy_opacity(self) -> HighlightKeyframe:
        # Legacy keyframes carry only `opacity`: it becomes the fill; the stroke defaults to 0.85.
        updates: dict[str, float] = {}
        if self.fill_opacity is None and self.opacity is not None:
            updates["fill_opacity"] = self.opacity
        if self.stroke_opacity is None:
            updates["stroke_opacity"] = 0.85
        for key, value in updates.items():
            object.__setattr__(self, key, value)
        return self


class HighlightRegion(_Model):
    id: JsonId = None
    start_time: NonNegFloat
    end_time: NonNegFloat
    enabled: bool = True
    keyframes: list[HighlightKeyframe] = Field(default_factory=list)
    video_width: int | None = Field(default=None, gt=0)
    video_height: int | None = Field(default=None, gt=0)
    # Editor bookkeeping, accepted and ignored.
    label: str | None = None
    auto_generated: bool | None = None
    detections: list[Any] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HighlightRegion:
        if self.end_time < self.start_time:
            raise ValueError(f"end_time ({self.end_time}) is before start_time ({self.start_time})")
        return self


class OverlaySettings(_Model):
    highlight_shape: Literal["body", "ground"] = "body"
    stroke_width: float = Field(default=2.0, ge=0, le=50, allow_inf_nan=False, description="px at 1080 lines")
    fill_enabled: bool = False
    fill_opacity: Opacity | None = Field(default=None, description="default 0.05 (0.15 for ground)")
    dim_strength: Opacity = 0.15


class TextLayer(_Model):
    """A full-frame RGBA PNG of exactly the video's size, shown while start <= t < end."""

    start_time: NonNegFloat
    end_time: NonNegFloat
    png_b64: str | None = None
    png_key: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TextLayer:
        if (self.png_b64 is None) == (self.png_key is None):
            raise ValueError("give exactly one of 'png_b64' or 'png_key'")
        if self.end_time <= self.start_time:
            raise ValueError(f"end_time ({self.end_time}) must be after start_time ({self.start_time})")
        return self


class OverlaySpec(_Model):
    """Parameters of the overlay export (CONTRACT.md, Overlay)."""

    highlight_regions: list[HighlightRegion] = Field(default_factory=list)
    effect_type: Literal["dark_overlay", "brightness_boost", "original"] = "dark_overlay"
    overlay_settings: OverlaySettings = Field(default_factory=OverlaySettings)
    highlight_color: str | None = Field(default=None, description="'#RRGGBB' overrides every keyframe; 'none' = dim only")
    text_layers: list[TextLayer] = Field(default_factory=list)
    include_audio: bool = True
    encode: EncodeSettings = Field(default_factory=EncodeSettings)
    meta: Meta = None

    @field_validator("highlight_color")
    @classmethod
    def _color_or_none(cls, value: str | None) -> str | None:
        return value if value in (None, "none") else _check_color(value)


# --------------------------------------------------------------------------- annotate
class AnnotateClip(_Model):
    start_time: NonNegFloat
    end_time: NonNegFloat
    name: Text = ""
    notes: Text = ""
    rating: int = Field(default=3, ge=1, le=5)
    tags: list[Text] = Field(default_factory=list)
    video_sequence: JsonId = None
    id: JsonId = None

    @model_validator(mode="after")
    def _ordered(self) -> AnnotateClip:
        if self.end_time <= self.start_time:
            raise ValueError(f"end_time ({self.end_time}) must be after start_time ({self.start_time})")
        return self


class AnnotateSpec(_Model):
    """Parameters of the annotate export (CONTRACT.md, Annotate)."""

    clips: list[AnnotateClip] = Field(min_length=1)
    mode: Literal["compilation", "clips"] = "compilation"
    min_rating: int = Field(default=4, ge=1, le=5)
    input_keys: dict[str, Text] | None = Field(default=None, description="video_sequence -> source key or path")
    include_audio: bool = True
    encode: EncodeSettings = Field(default_factory=EncodeSettings)
    meta: Meta = None


# --------------------------------------------------------------------------- entry points
SPEC_MODELS: dict[str, type[_Model]] = {
    "framing": FramingSpec,
    "overlay": OverlaySpec,
    "annotate": AnnotateSpec,
}
ExportSpec = FramingSpec | OverlaySpec | AnnotateSpec


# The names pydantic gives the members of a union in an error's location ("str", "int",
# "function-after[...]", "list[...]"): not fields of the spec, so not named as the field at fault.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|bytes|list|dict|tuple|set)$|[\[\]]")


def _where(loc: tuple[Any, ...], params: Any, *, members: bool = False) -> str:
    """``loc`` as a field path (``clips[0].keyframes[1].time``), without the names of union
    members. A part is such a name only where the input has no key of that name (an
    ``input_keys`` entry may well be called "str"), and an unknown key (``members``) is named
    as given, whatever it is."""
    out, node = "", params
    for k, part in enumerate(loc):
        child = _child(node, part)
        if child is _MISSING and isinstance(part, str) and _UNION_MEMBER.search(part) \
                and not (members and k == len(loc) - 1):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        node = child
    return out or "params"


_MISSING = object()


def _child(node: Any, part: Any) -> Any:
    """``node[part]`` in the input as given (either spelling of a key), or ``_MISSING``."""
    if isinstance(node, dict) and isinstance(part, str):
        for key in (part, to_camel(part)):
            if key in node:
                return node[key]
    elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def _other_spelling_given(params: Any, loc: tuple[Any, ...], unknown: set[tuple[Any, ...]]) -> str | None:
    """The other spelling (snake_case or camelCase) of the key at ``loc``, where the input
    gives both and that one is a known key (not in ``unknown``): pydantic keeps one and
    reported the other as unknown, which blamed a correctly spelled key."""
    path = loc[:-1]
    if path[:2] == ("clips", 0) and isinstance(params, dict) and "clips" not in params:
        path = path[2:]  # the framing shorthand: clip fields given at top level
    parent = params
    for part in path:
        parent = _child(parent, part)
        if parent is _MISSING:
            return None
    key = loc[-1] if loc else None
    if not isinstance(parent, dict) or not isinstance(key, str):
        return None
    other = to_camel(key) if to_camel(key) != key else to_snake(key)
    known = other != key and other in parent and (*loc[:-1], other) not in unknown
    return other if known else None


def parse_spec(kind: str, params: Any) -> ExportSpec:
    """Validate ``params`` for export ``kind``; raise :class:`InvalidSpec` naming the field."""
    model = SPEC_MODELS.get(kind)
    if model is None:
        raise InvalidSpec(f"type: unknown export {kind!r}; expected one of {sorted(SPEC_MODELS)}", field="type")
    if isinstance(params, model):
        return params
    if isinstance(params, Mapping) and not isinstance(params, dict):
        params = dict(params)  # a read-only view (MappingProxyType) or another mapping: its keys
    if not isinstance(params, dict):
        raise InvalidSpec(f"params: expected an object, got {type(params).__name__}", field="params")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        # One entry per field: a value that fits no member of a union gets one message per
        # member ("a valid string", "a valid integer"), joined here.
        problems: dict[str, list[str]] = {}
        unknown = {err["loc"] for err in exc.errors() if err["type"] == "extra_forbidden"}
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            extra = err["type"] == "extra_forbidden"
            if extra:
                twin = _other_spelling_given(params, err["loc"], unknown)
                msg = f"given twice, as {twin!r} and {err['loc'][-1]!r} (use one)" if twin else \
                    "unknown key (check the spelling)"
            field = f"params.{_where(err['loc'], params, members=extra)}" if err["loc"] else "params"
            if field in problems or len(problems) < 5:
                problems.setdefault(field, []).append(msg)
        fields = tuple(problems)
        listed = sum(len(m) for m in problems.values())
        more = f" (and {exc.error_count() - listed} more)" if exc.error_count() > listed else ""
        raise InvalidSpec("; ".join(f"{f}: {_either(m)}" for f, m in problems.items()) + more, fields=fields) from None


def _either(messages: list[str]) -> str:
    """"Input should be a valid string or a valid integer" from a union's messages."""
    unique = list(dict.fromkeys(messages))
    lead = "Input should be "
    if len(unique) > 1 and all(m.startswith(lead) for m in unique):
        return lead + " or ".join(m.removeprefix(lead) for m in unique)
    return " or ".join(unique)


def json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of an export's params (what ``reelgpu schema NAME`` prints): it accepts what
    :func:`parse_spec` accepts as to keys and shapes, snake_case and camelCase alike
    (:mod:`reelgpu.spec_schema`); value rules written as code (ordered times, even sizes...) are
    checked by :func:`parse_spec` only."""
    if kind not in SPEC_MODELS:
        raise InvalidSpec(f"unknown export {kind!r}; expected one of {sorted(SPEC_MODELS)}")
    model = SPEC_MODELS[kind]
    schema = spec_schema.both_spellings(model.model_json_schema(by_alias=False), model.model_json_schema(by_alias=True))
    spec_schema.with_trim_range_list(schema)
    if model is FramingSpec:
        schema = spec_schema.with_shorthand(schema, FramingClip.__name__, SHORTHAND_CLIP_KEYS)
    return schema


def referenced_keys(spec: ExportSpec) -> list[str]:
    """Storage keys/paths a spec names besides the job's main input, in first-seen order.

    The handler fetches these before rendering; the CLI resolves them relative to the spec file.
    Exports receive them as ``sources={key: local_path}``.
    """
    keys: list[str] = []
    if isinstance(spec, FramingSpec):
        keys = [c.source_key for c in spec.clips if c.source_key]
    elif isinstance(spec, OverlaySpec):
        keys = [t.png_key for t in spec.text_layers if t.png_key]
    elif isinstance(spec, AnnotateSpec):
        keys = list((spec.input_keys or {}).values())
    return list(dict.fromkeys(keys))
