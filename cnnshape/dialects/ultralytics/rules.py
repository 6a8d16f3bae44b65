"""Ultralytics' parse_model rules, in one place: an Ultralytics model YAML -> a native spec.

This is what `ultralytics.nn.tasks.parse_model` (8.4.x) does to each `[from, repeats,
module, args]` row before it builds the module, written out for cnnshape:

- **Scale.** `scales: {n: [depth, width, max_channels], ...}`; the scale is `--set
  scale=s`, else the one in the file name (`yolov8s.yaml`, as Ultralytics'
  guess_model_scale), else the first one, with a note. Files without `scales` use
  `depth_multiple` and `width_multiple` (default 1.0) and no channel cap.
- **Depth.** A row's repeats `n > 1` become `max(round(n * depth), 1)` (Python's round,
  half to even); `n == 1` stays 1.
- **Width.** For the channel-setting modules (BASE below, except Classify), the output
  channels `c2 = args[0]` become `make_divisible(min(c2, max_channels) * width, 8)`, where
  make_divisible(x, 8) = ceil(x / 8) * 8. The module then gets `[c1, c2, *args[1:]]` with
  c1 the channels of the row it reads.
- **Repeats inside a module.** For the modules in REPEAT, the scaled n is inserted as the
  third argument and the row runs once; for every other module n > 1 chains n copies.
- **Per-module rewriting.** C3k2 gets c3k=True at scales m, l, x; C3k2 (and C2fCIB,
  A2C2f) switch the heads to the non-legacy class branch (DWConv) of YOLO11 and later.
  SPPF rows with at most three arguments keep an activated cv1 (legacy rows).
- **Heads.** Detect-like heads get `[..., reg_max, end2end, [channels of each input]]`
  appended; `nc` (and `kpt_shape`) written as names in args are the file's settings,
  which stay network args of the native spec so `--set nc=20` works.
- **Channels.** Concat's output is the sum of its inputs' channels; the other modules
  keep their input's channels.

The result is a native spec (plain data) whose every value is located in the user's
file, using the module library in modules.yaml for the blocks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cnnshape.errors import Issue, Loc, did_you_mean

# parse_model's module sets (8.4.x), by name.
BASE = frozenset(
    [
        "Classify",
        "Conv",
        "ConvTranspose",
        "GhostConv",
        "Bottleneck",
        "GhostBottleneck",
        "SPP",
        "SPPF",
        "C2fPSA",
        "C2PSA",
        "DWConv",
        "Focus",
        "BottleneckCSP",
        "C1",
        "C2",
        "C2f",
        "C3k2",
        "RepNCSPELAN4",
        "ELAN1",
        "ADown",
        "AConv",
        "SPPELAN",
        "C2fAttn",
        "C3",
        "C3TR",
        "C3Ghost",
        "nn.ConvTranspose2d",
        "DWConvTranspose2d",
        "C3x",
        "RepC3",
        "PSA",
        "SCDown",
        "C2fCIB",
        "A2C2f",
    ]
)
REPEAT = frozenset(
    [
        "BottleneckCSP",
        "C1",
        "C2",
        "C2f",
        "C3k2",
        "C2fAttn",
        "C3",
        "C3TR",
        "C3Ghost",
        "C3x",
        "RepC3",
        "C2fPSA",
        "C2fCIB",
        "C2PSA",
        "A2C2f",
    ]
)
HEADS = frozenset(
    [
        "Detect",
        "WorldDetect",
        "YOLOEDetect",
        "Segment",
        "Segment26",
        "YOLOESegment",
        "YOLOESegment26",
        "Pose",
        "Pose26",
        "OBB",
        "OBB26",
    ]
)
SEGMENT = frozenset({"Segment", "YOLOESegment", "Segment26", "YOLOESegment26"})
# Modules that read the class text embeddings (Ultralytics' WorldModel and YOLOEModel pass
# them besides the row's maps): a file using one gets a second input, `text`.
TEXT = frozenset({"C2fAttn", "ImagePoolingAttn", "WorldDetect", "YOLOEDetect", "YOLOESegment", "YOLOESegment26"})
# The text embeddings' width: WorldModel's txt_feats is torch.randn(1, nc, 512), YOLOEModel's
# default pe torch.zeros(1, 80, 512).
TEXT_EMBED = 512
NOT_LEGACY = frozenset({"C3k2", "A2C2f", "C2fCIB"})
# Every other module name parse_model knows, so a typo gets "did you mean" and a real module
# gets "not in cnnshape's library yet".
OTHER = frozenset(
    [
        "Concat",
        "AIFI",
        "HGStem",
        "HGBlock",
        "ResNetLayer",
        "nn.BatchNorm2d",
        "Depth",
        "SemanticSegment",
        "v10Detect",
        "ImagePoolingAttn",
        "RTDETRDecoder",
        "CBLinear",
        "CBFuse",
        "TorchVision",
        "Index",
        "nn.Upsample",
        "RepConv",
        "ContrastiveHead",
        "BNContrastiveHead",
    ]
)
KNOWN = BASE | REPEAT | HEADS | OTHER

# Names parse_model resolves in string arguments (its locals); nc and kpt_shape stay settings.
SETTINGS = ("nc", "kpt_shape")

# Ultralytics modules that are native cnnshape kinds: their positional arguments by name.
NATIVE = {
    "Concat": ("Concat", ("dim",)),
    "nn.Upsample": ("Upsample", ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")),
    "nn.MaxPool2d": ("MaxPool2d", ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")),
    "nn.ZeroPad2d": ("ZeroPad2d", ("padding",)),
    "nn.Identity": ("Identity", ()),  # nn.Identity(*args) ignores its arguments
    "nn.BatchNorm2d": ("BatchNorm2d", ("num_features", "eps", "momentum", "affine", "track_running_stats")),
    "nn.ConvTranspose2d": (
        "ConvTranspose2d",
        (
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "output_padding",
            "groups",
            "bias",
            "dilation",
        ),
    ),
}

_SCALE_IN_NAME = re.compile(r"yolo(e-)?[v]?\d+([nslmx])")


def make_divisible(x: float, divisor: int = 8) -> int:
    """Ultralytics' make_divisible: the nearest multiple of `divisor` at or above x."""
    return math.ceil(x / divisor) * divisor


def guess_scale(path: str) -> str:
    """The scale letter in a file name (`yolov8s.yaml` -> 's'), as Ultralytics guesses it."""
    found = _SCALE_IN_NAME.search(Path(path).stem)
    return found.group(2) if found else ""


def looks_like(data: Any) -> bool:
    """An Ultralytics model YAML: `backbone` and `head` row lists, no native `layers`."""
    return isinstance(data, dict) and "backbone" in data and "head" in data and "layers" not in data


@dataclass
class Row:
    """Ultralytics' own view of one row, as parse_model prints it."""

    index: int
    from_: Any  # as written: -1, 6 or [-1, 6]
    repeats: int  # after depth scaling
    module: str
    args: list[Any]  # resolved, as the module is called
    name: str  # the native layer's name
    loc: Loc  # the row in the user's file


@dataclass
class Translation:
    """A native spec made from an Ultralytics file, with where each value came from."""

    data: dict[str, Any]
    positions: dict[Loc, Loc]  # native loc -> loc in the user's file
    key_positions: dict[Loc, Loc]
    rows: list[Row]
    scale: Optional[str]
    issues: list[Issue] = field(default_factory=list)  # errors and notes, at the user's locs
    notes: list[Issue] = field(default_factory=list)


class _Bad(Exception):
    """A row that cannot be translated; its issue is recorded."""


def translate(data: dict[str, Any], path: str, library: dict[str, Any], scale: Optional[str] = None) -> Translation:
    """The native spec for `data` (an Ultralytics model dict) at `scale`."""
    return _Translator(data, path, library).run(scale)


class _Translator:
    def __init__(self, data: dict[str, Any], path: str, library: dict[str, Any]):
        self.data = data
        self.path = path
        self.library = library  # block name -> block definition (modules.yaml)
        self.issues: list[Issue] = []
        self.notes: list[Issue] = []
        self.positions: dict[Loc, Loc] = {}
        self.key_positions: dict[Loc, Loc] = {}

    def issue(self, loc: Loc, code: str, message: str, at_key: bool = False) -> None:
        self.issues.append(Issue(loc, code, message, at_key=at_key))

    def _levels(
        self, loc: Loc, i: int, module: str, sources: list[int], ch: list[int], low: int, high: int
    ) -> list[int]:
        """The channels of the levels a head reads, once their number is one the library has."""
        if not low <= len(sources) <= high:
            wanted = f"{low}" if low == high else f"{low} to {high}"
            message = f"row {i}: {module} reads {wanted} levels in cnnshape's library, got {len(sources)}"
            self.issue(loc + (0,), "bad-value", message)
            raise _Bad
        return [ch[x] for x in sources]

    # -- settings -----------------------------------------------------------------------

    def _scale(self, wanted: Optional[str]) -> tuple[Optional[str], float, float, float]:
        """(scale, depth, width, max_channels) from `scales` or the *_multiple keys."""
        scales = self.data.get("scales")
        if scales is None:
            if wanted:
                self.issue(
                    ("backbone",),
                    "unknown-argument",
                    f"--set scale={wanted}: this file has no `scales`; it uses depth_multiple and width_multiple",
                    at_key=True,
                )
            depth = self._number("depth_multiple", 1.0)
            width = self._number("width_multiple", 1.0)
            return None, depth, width, math.inf
        if not isinstance(scales, dict) or not scales:
            self.issue(("scales",), "schema", "`scales` is a mapping of scale names to [depth, width, max_channels]")
            return None, 1.0, 1.0, math.inf
        chosen: Optional[str] = wanted or guess_scale(self.path)
        if chosen and chosen not in scales:
            where = "--set scale" if wanted else f"the file name {Path(self.path).name!r}"
            self.issue(
                ("scales",),
                "bad-value",
                f"{where} asks for scale {chosen!r}; this file's scales are {', '.join(map(str, scales))}",
                at_key=True,
            )
            chosen = None
        if not chosen:
            chosen = next(iter(scales))
            if not wanted:
                self.notes.append(
                    Issue(
                        ("scales",),
                        "default-scale",
                        (
                            f"no scale given; using {chosen!r}, the first in `scales`, as Ultralytics does "
                            f"(choose one with --set scale={'|'.join(map(str, scales))})"
                        ),
                        severity="warning",
                        at_key=True,
                    )
                )
        values = scales[chosen]
        if (
            not isinstance(values, list)
            or len(values) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
        ):
            self.issue(
                ("scales", chosen),
                "bad-value",
                f"scale {chosen!r} must be [depth, width, max_channels], three positive numbers",
            )
            return str(chosen), 1.0, 1.0, math.inf
        return str(chosen), float(values[0]), float(values[1]), values[2]

    def _number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.issue((key,), "bad-value", f"{key} must be a positive number, got {value!r}")
            return default
        return float(value)

    # -- rows ---------------------------------------------------------------------------

    def run(self, wanted: Optional[str]) -> Translation:
        data = self.data
        scale, depth, width, max_channels = self._scale(wanted)
        nc = data.get("nc", 80)
        if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
            self.issue(("nc",), "bad-value", f"nc must be a positive integer, got {nc!r}")
            nc = 80
        settings: dict[str, Any] = {"nc": nc}
        if "kpt_shape" in data:
            settings["kpt_shape"] = data["kpt_shape"]
        reg_max = data.get("reg_max", 16)
        end2end = data.get("end2end")  # parse_model passes it as written (None when absent)
        channels = data.get("channels", 3)
        entries: list[tuple[Loc, Any]] = []
        for part in ("backbone", "head"):
            rows = data.get(part)
            if not isinstance(rows, list):
                self.issue((part,), "schema", f"`{part}` is a list of [from, repeats, module, args] rows")
                continue
            entries += [((part, j), row) for j, row in enumerate(rows)]

        self.ch: list[Any] = [channels]  # each row's output channels (a CBLinear row: a list, one per map)
        self.legacy = True
        # With text-guided modules the network has two inputs: the image and the text embeddings.
        texts = any(isinstance(raw, list) and len(raw) == 4 and raw[2] in TEXT for _, raw in entries)
        self.image = "image" if texts else "input"
        self.text = "text"  # what the next text-guided row reads: ImagePoolingAttn rows replace it
        layers: list[Any] = []
        rows_out: list[Row] = []
        used: set[str] = set()
        env = {
            "nc": nc,
            "kpt_shape": settings.get("kpt_shape"),
            "reg_max": reg_max,
            "end2end": end2end,
            "depth": depth,
            "width": width,
            "max_channels": max_channels,
            "scale": scale,
        }
        for i, (loc, raw) in enumerate(entries):
            try:
                row, entry, kind = self._row(i, loc, raw, env)
            except _Bad:
                layers.append(self._placeholder(i, loc, len(layers)))
                if i == 0:
                    self.ch = []
                self.ch.append(0)
                continue
            used.add(kind)
            rows_out.append(row)
            layers.append(entry)
        self.positions[("layers",)] = ("backbone",)
        stem = Path(self.path).stem
        name = re.sub(
            r"^(.*?\d+)([nslmx]?)(-.*)?$", lambda m: m.group(1) + (scale or m.group(2)) + (m.group(3) or ""), stem
        )
        native = {
            "name": name,
            "description": f"Ultralytics model {Path(self.path).name}" + (f" at scale {scale}" if scale else ""),
            "input": (
                {"image": [1, channels, 640, 640], "text": [1, "$nc", TEXT_EMBED]} if texts else [1, channels, 640, 640]
            ),
            "args": settings,
            "blocks": self._with_activation({block: self.library[block] for block in self._closure(used)}),
            "layers": layers,
        }
        for key in settings:
            self.positions[("args", key)] = (key,)
            self.key_positions[("args", key)] = (key,)
        self.positions[("args",)] = ("nc",) if "nc" in data else ()
        self.key_positions[("args",)] = ("nc",) if "nc" in data else ()
        return Translation(native, self.positions, self.key_positions, rows_out, scale, self.issues, self.notes)

    def _with_activation(self, blocks: dict[str, Any]) -> dict[str, Any]:
        """`activation: nn.ReLU()`: parse_model sets Conv.default_act from it, so every Conv
        (and the modules built of Convs) activates with it instead of SiLU."""
        written = self.data.get("activation")
        if written is None or "Conv" not in blocks:
            return blocks
        kind, options = self._activation(written)
        if kind is None:
            return blocks
        conv = dict(blocks["Conv"])
        conv["layers"] = [
            {kind: {**options, **layer["SiLU"]}} if isinstance(layer, dict) and "SiLU" in layer else layer
            for layer in conv["layers"]
        ]
        return {**blocks, "Conv": conv}

    def _activation(self, written: Any) -> tuple[Optional[str], dict[str, Any]]:
        """An `activation` value as parse_model reads it ([torch.]nn.Name(literal args)): a
        cnnshape activation kind and its options, or (None, {}) with the problem recorded."""
        import ast

        from cnnshape.expr import MAX_EXPR_CHARS
        from cnnshape.layers import REGISTRY

        hint = "write it as Ultralytics reads it: nn.ReLU(), torch.nn.LeakyReLU(0.1), nn.Hardswish()"
        try:
            text = str(written).strip()
            if len(text) > MAX_EXPR_CHARS:  # Python's parser recurses: `nn.ReLU(---...1)` would exhaust it
                raise ValueError
            call = ast.parse(text, mode="eval").body
            if not isinstance(call, ast.Call):
                raise ValueError
            parts, node = [], call.func
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if not isinstance(node, ast.Name):
                raise ValueError
            parts.append(node.id)
            if parts[1:] not in (["nn"], ["nn", "torch"]):
                raise ValueError
            args = [ast.literal_eval(arg) for arg in call.args]
            options = {str(kw.arg): ast.literal_eval(kw.value) for kw in call.keywords}
        except (SyntaxError, ValueError):
            self.issue(
                ("activation",), "bad-value", f"activation {written!r} is not a torch.nn activation call; {hint}"
            )
            return None, {}
        kind = parts[0]
        cls = REGISTRY.get(kind) if kind in REGISTRY else None
        if cls is None or cls.family != "activation":
            known = sorted(name for name in REGISTRY if REGISTRY[name].family == "activation")
            self.issue(
                ("activation",),
                "unknown-kind",
                f"activation nn.{kind} is not an activation cnnshape knows ({', '.join(known)})",
            )
            return None, {}
        if args:
            settable = [name for name in cls.model_fields if name != "inplace"]
            if len(settable) != 1 or len(args) > 1:
                self.issue(("activation",), "bad-value", f"activation {written!r}: give nn.{kind}'s arguments by name")
                return None, {}
            options = {settable[0]: args[0], **options}
        return kind, options

    def _placeholder(self, i: int, loc: Loc, index: int) -> Any:
        """A stand-in for a row that failed: an Identity, so later rows still resolve."""
        self.positions[("layers", index)] = loc
        return {"Identity": {"name": f"model_{i}"}}

    def _closure(self, used: set[str]) -> list[str]:
        """The library blocks the rows use, with the blocks those use, in library order."""
        wanted = {kind for kind in used if kind in self.library}
        pending = list(wanted)
        while pending:
            block = self.library[pending.pop()]
            for raw in block.get("layers", []):
                kind = next(iter(raw)) if isinstance(raw, dict) else raw
                if kind in self.library and kind not in wanted:
                    wanted.add(kind)
                    pending.append(kind)
        return [name for name in self.library if name in wanted]

    def _from(self, i: int, loc: Loc, raw: Any) -> list[int]:
        """Row indices (-1 for the network input) a row reads, checked against the rows above."""
        values = raw if isinstance(raw, list) else [raw]
        found = []
        for k, value in enumerate(values):
            where = loc + (0, k) if isinstance(raw, list) else loc + (0,)
            if isinstance(value, bool) or not isinstance(value, int):
                self.issue(
                    where,
                    "bad-value",
                    f"`from` takes a row index or a list of them (-1 is the row above), got {value!r}",
                )
                raise _Bad
            target = value if value >= 0 else (i + value if i else value)
            if i == 0 and value == -1:
                found.append(-1)
                continue
            if not 0 <= target < i:
                above = (
                    f"rows 0..{i - 1} are above it" if i else "it is the first row, which can only read the input (-1)"
                )
                self.issue(
                    where,
                    "unknown-reference",
                    f"row {i}: `from` {value} points to row {target}, which is not above this row ({above})",
                )
                raise _Bad
            found.append(target)
        return found

    def _row(self, i: int, loc: Loc, raw: Any, env: dict[str, Any]) -> tuple[Row, Any, str]:
        if not isinstance(raw, list) or len(raw) != 4:
            found = (
                f"a list of {len(raw)}"
                if isinstance(raw, list)
                else f"a {type(raw).__name__.replace('NoneType', 'null')}"
            )
            self.issue(loc, "bad-layer", f"row {i}: a row is [from, repeats, module, args], found {found}")
            raise _Bad
        f_raw, n_raw, module, args_raw = raw
        sources = self._from(i, loc, f_raw)
        if isinstance(n_raw, bool) or not isinstance(n_raw, int) or n_raw < 1:
            self.issue(loc + (1,), "bad-value", f"row {i}: repeats must be a positive integer, got {n_raw!r}")
            raise _Bad
        if not isinstance(module, str):
            self.issue(
                loc + (2,), "bad-layer", f"row {i}: the module is a name like Conv or nn.Upsample, got {module!r}"
            )
            raise _Bad
        if not isinstance(args_raw, list):
            self.issue(loc + (3,), "bad-value", f"row {i}: args must be a list, got {args_raw!r}")
            raise _Bad
        supported = set(self.library) | set(NATIVE)
        if module not in supported:
            self._unknown_module(i, loc, module, supported)
            raise _Bad
        # parse_model: string args naming its locals are replaced, others literal_eval'd.
        args: list[Any] = []
        native_args: list[Any] = []
        for value in args_raw:
            if isinstance(value, str) and value in env:
                args.append(env[value])
                native_args.append(f"${value}" if value in SETTINGS else env[value])
            elif isinstance(value, str) and value in ("None", "True", "False"):
                literal = {"None": None, "True": True, "False": False}[value]
                args.append(literal)
                native_args.append(literal)
            else:
                args.append(value)
                native_args.append(value)
        picks: Optional[list[Optional[int]]] = None  # the output each `from` row gives (CBFuse)
        depth, width, max_channels = env["depth"], env["width"], env["max_channels"]
        n = n_ = max(round(n_raw * depth), 1) if n_raw > 1 else n_raw
        ch = self.ch
        first = sources[0]
        if module != "CBFuse" and any(isinstance(ch[x], list) for x in sources):
            self.issue(
                loc + (0,),
                "bad-value",
                f"row {i}: {module} reads a CBLinear row, which gives several maps: take them with CBFuse",
            )
            raise _Bad
        c1 = ch[first] if first >= 0 else ch[-1]
        c2: Any  # the row's output channels (a list for CBLinear's maps)
        if module in BASE:
            if not args or isinstance(args[0], bool) or not isinstance(args[0], int):
                self.issue(
                    loc + (3,), "bad-value", f"row {i}: {module}'s first argument is its output channels, an integer"
                )
                raise _Bad
            c2 = args[0]
            native_c2: Any = native_args[0]
            if module != "Classify":
                c2 = make_divisible(min(c2, max_channels) * width, 8)
                native_c2 = c2
            if module == "C2fAttn":
                args[1:3] = native_args[1:3] = self._c2fattn(i, loc, args, c2, width, max_channels)
            args = [c1, c2, *args[1:]]
            native_args = [c1, native_c2, *native_args[1:]]
            if module in REPEAT:
                args.insert(2, n)
                native_args.insert(2, n)
                n = 1
            if module in NOT_LEGACY:
                self.legacy = False
            if module == "A2C2f" and env["scale"] in {"l", "x"}:
                args.extend((True, 1.2))
                native_args.extend((True, 1.2))
            if module == "C3k2" and env["scale"] in {"m", "l", "x"}:
                args[3:4] = [True]
                native_args[3:4] = [True]
        elif module in HEADS:
            low, high = (3, 3) if module in TEXT else (2, 4)  # the text heads' SAVPE takes three levels
            chans = self._levels(loc, i, module, sources, ch, low, high)
            if module == "WorldDetect" and env["end2end"]:
                message = f"row {i}: WorldDetect with end2end (one-to-one branches) is not in cnnshape's library"
                self.issue(("end2end",), "bad-value", message)
                raise _Bad
            args = args + [env["reg_max"], env["end2end"], chans]
            native_args = native_args + [env["reg_max"], bool(env["end2end"]), chans]
            if module in SEGMENT and len(args) > 2 and isinstance(args[2], int) and not isinstance(args[2], bool):
                args[2] = native_args[2] = make_divisible(min(args[2], max_channels) * width, 8)  # npr, the protos
            c2 = 0
        elif module in ("Depth", "SemanticSegment"):
            wanted = 3 if module == "Depth" else 2
            chans = self._levels(loc, i, module, sources, ch, wanted, wanted)
            # parse_model: Depth(c_mid, ch) (a legacy third argument is dropped), SemanticSegment(nc, ch)
            args, native_args = [*args[:1], chans], [*native_args[:1], chans]
            c2 = 0
        elif module == "ImagePoolingAttn":
            # parse_model: ImagePoolingAttn(ec, [channels of each input], ct, nh, k, scale); its
            # output is the text embeddings, and the row's channels are the previous row's
            # (parse_model leaves c2 as it was)
            chans = self._levels(loc, i, module, sources, ch, 3, 3)
            args, native_args = [*args[:1], chans, *args[1:]], [*native_args[:1], chans, *native_args[1:]]
            c2 = ch[-1]
        elif module == "RTDETRDecoder":
            # parse_model: RTDETRDecoder(nc, [channels of each input], hd, nq, ndp, nh, ndl, d_ffn, ...)
            chans = self._levels(loc, i, module, sources, ch, 3, 3)
            args, native_args = [*args[:1], chans, *args[1:]], [*native_args[:1], chans, *native_args[1:]]
            self._rtdetr_defaults(i, loc, args)
            c2 = ch[-1]
        elif module == "v10Detect":
            chans = self._levels(loc, i, module, sources, ch, 2, 4)
            args = args + [chans]
            native_args = native_args + [chans]
            c2 = 0
        elif module == "Concat":
            c2 = sum(ch[x] for x in sources)
        elif module == "nn.BatchNorm2d":
            args = native_args = [c1]
            c2 = c1
        elif module == "nn.Identity":
            args = native_args = []
            c2 = c1
        elif module in ("HGStem", "HGBlock"):
            # parse_model: [c1, cm, c2, *rest] (c2 not width-scaled); HGBlock gets n at 4 and runs once
            self._int_arg(i, loc, module, args, 0)  # cm, the hidden channels
            c2 = self._int_arg(i, loc, module, args, 1)
            args, native_args = [c1, *args], [c1, *native_args]
            if module == "HGBlock":
                args.insert(4, n)
                native_args.insert(4, n)
                n = 1
        elif module == "AIFI":
            args, native_args = [c1, *args], [c1, *native_args]
            c2 = c1
        elif module == "CBLinear":
            # c2s: a list of output channels, not width-scaled; the row stands for one map per entry
            if (
                not args
                or not isinstance(args[0], list)
                or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in args[0])
            ):
                self.issue(
                    loc + (3,),
                    "bad-value",
                    f"row {i}: CBLinear's first argument is a list of output channels, like [64, 128]",
                )
                raise _Bad
            c2 = args[0]
            args = [c1, *args]
            native_args = [c1, *native_args]
        elif module == "CBFuse":
            idx = args[0] if args else None
            if (
                not isinstance(idx, list)
                or len(idx) != len(sources) - 1
                or not 1 <= len(idx) <= 5
                or not all(isinstance(k, int) and not isinstance(k, bool) for k in idx)
            ):
                self.issue(
                    loc + (3,),
                    "bad-value",
                    (
                        f"row {i}: CBFuse's argument is the list of map indices to take from each input but the last "
                        f"({len(sources) - 1} here, at most 5)"
                    ),
                )
                raise _Bad
            for source, k in zip(sources, idx, strict=False):  # the last input takes no index
                maps = ch[source] if source >= 0 else None
                if not isinstance(maps, list) or not 0 <= k < len(maps):
                    self.issue(
                        loc + (0,),
                        "bad-value",
                        f"row {i}: CBFuse takes map {k} of row {source}, which is not a CBLinear with that many maps",
                    )
                    raise _Bad
            picks = [*idx, None]
            c2 = ch[sources[-1]]
        elif module == "ResNetLayer":
            # parse_model passes the row's args as written (c1 included); the output is c2,
            # or e * c2 (e = 4) after ResNetBlocks
            c2 = self._int_arg(i, loc, module, args, 1)
            c2 = c2 if len(args) > 3 and args[3] else 4 * c2
        else:
            c2 = c1
        kind, entry = self._entry(i, loc, module, args, native_args, sources, n, picks)
        if module in HEADS:
            entry[kind]["legacy"] = self.legacy
        if module in HEADS or module == "v10Detect":
            entry[kind]["nl"] = len(sources)
        if module == "SPPF" and len(args) <= 3:
            entry[kind]["cv1_act"] = True  # parse_model: legacy rows predate YOLO26's unactivated cv1
        if i == 0:
            self.ch = []
        self.ch.append(c2)
        return Row(i, f_raw, n_, module, args, f"model_{i}", loc), entry, kind

    def _c2fattn(self, i: int, loc: Loc, args: list[Any], c2: int, width: float, max_channels: float) -> list[int]:
        """parse_model's C2fAttn rewriting of [c2, ec, nh, gc, shortcut, g, e]: ec becomes the
        hidden channels int(c2 * e), nh is scaled by width (capped by max_channels // 64)."""
        if len(args) < 3 or not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in args[1:3]):
            self.issue(loc + (3,), "bad-value", f"row {i}: C2fAttn's arguments are [c2, ec, nh, ...], nh an integer")
            raise _Bad
        nh = args[2]
        nh = int(max(round(min(nh, max_channels // 2 // 32)) * width, 1)) if nh > 1 else nh
        e = args[6] if len(args) > 6 else 0.5
        hidden = int(c2 * e) if isinstance(e, (int, float)) and not isinstance(e, bool) else 0
        if hidden <= 0 or hidden % nh:
            self.issue(
                loc + (3,),
                "bad-value",
                f"row {i}: C2fAttn hidden channels {hidden} (from c2={c2}) must be divisible by nh={nh}; "
                "adjust width_multiple, nh, or C2fAttn expansion",
            )
            raise _Bad
        return [hidden, nh]

    def _rtdetr_defaults(self, i: int, loc: Loc, args: list[Any]) -> None:
        """The library's RTDETRDecoder has six decoder layers, evaluates the last, and selects
        its queries (no learned ones): ndl, eval_idx, act and learnt_init_query at their defaults."""
        defaults = {6: ("ndl", 6), 9: ("act", None), 10: ("eval_idx", -1), 14: ("learnt_init_query", False)}
        for k, (name, default) in defaults.items():
            if len(args) > k and args[k] != default and not (name == "eval_idx" and args[k] == 5):
                self.issue(
                    loc + (3, k - 1),
                    "bad-value",
                    f"row {i}: RTDETRDecoder's {name}={args[k]!r} is not in cnnshape's library, which has "
                    f"{name}={default!r} (Ultralytics' default)",
                )
                raise _Bad

    def _int_arg(self, i: int, loc: Loc, module: str, args: list[Any], k: int) -> int:
        """args[k], which must be an integer (a channel count)."""
        if len(args) <= k or isinstance(args[k], bool) or not isinstance(args[k], int):
            self.issue(loc + (3,), "bad-value", f"row {i}: {module}'s argument {k + 1} is a channel count, an integer")
            raise _Bad
        value: int = args[k]
        return value

    def _unknown_module(self, i: int, loc: Loc, module: str, supported: set[str]) -> None:
        if module == "TorchVision":
            # It builds a torchvision model (and loads its weights) when the row is built; the
            # model is code, not rows, so it is outside what a module library can say.
            self.issue(
                loc + (2,),
                "unknown-kind",
                (
                    f"row {i}: Ultralytics module 'TorchVision' is not supported: it builds a torchvision model by name "
                    "(and loads its weights) when Ultralytics builds the row; read that model on its own "
                    "with `cnnshape import torchvision.models:NAME --input 1,3,224,224`"
                ),
            )
            return
        if module in KNOWN or module.startswith("nn."):
            self.issue(
                loc + (2,),
                "unknown-kind",
                (
                    f"row {i}: Ultralytics module {module!r} is not in cnnshape's module library yet "
                    "(cnnshape/dialects/ultralytics/modules.yaml lists the modules it has)"
                ),
            )
            return
        hint = (
            did_you_mean(module, sorted(KNOWN | supported))
            or "; modules are ultralytics.nn.modules class names or nn.* layers"
        )
        self.issue(loc + (2,), "unknown-kind", f"row {i}: unknown module {module!r}{hint}")

    def _entry(
        self,
        i: int,
        loc: Loc,
        module: str,
        args: list[Any],
        native_args: list[Any],
        sources: list[int],
        n: int,
        picks: Optional[list[Optional[int]]] = None,
    ) -> tuple[str, dict[str, Any]]:
        """The native layer entry for one row, with each value's position in the user's file."""
        if module in NATIVE:
            kind, names = NATIVE[module]
            values = native_args
        else:
            kind, names = module, tuple(self.library[module].get("args", {}))
            values = native_args
        if len(values) > len(names):
            taken = ", ".join(names)
            self.issue(
                loc + (3,),
                "bad-value",
                (
                    f"row {i}: {module} takes at most {len(names)} arguments ({taken}) as parse_model passes them, "
                    f"got {len(values)}: {args!r}"
                ),
            )
            raise _Bad
        body: dict[str, Any] = {"name": f"model_{i}"}
        refs = [self.image if x < 0 else f"model_{x}" for x in sources]
        if picks is not None:
            refs = [ref if k is None else f"{ref}.{k}" for ref, k in zip(refs, picks, strict=True)]
        if module in TEXT:
            # the text embeddings as the last input: C2fAttn and ImagePoolingAttn read the latest
            # (WorldModel.predict's txt_feats, which an ImagePoolingAttn row replaces), the heads
            # the network's own (WorldDetect's ori_txt_feats, YOLOE's class embeddings)
            refs.append(self.text if module in ("C2fAttn", "ImagePoolingAttn") else "text")
            if module == "ImagePoolingAttn":
                self.text = f"model_{i}"
        if refs != ["input" if i == 0 else f"model_{i - 1}"]:
            body["from"] = refs if len(refs) > 1 or isinstance(self._raw_from(loc), list) else refs[0]
        if n > 1:
            body["repeat"] = n
        # arguments left out keep their defaults
        body.update({name: _native(value) for name, value in zip(names, values, strict=False)})
        base = ("layers", i)
        self.positions[base] = loc
        self.positions[base + (kind,)] = loc + (2,)
        self.key_positions[base + (kind,)] = loc + (2,)
        self.positions[base + (kind, "from")] = loc + (0,)
        if isinstance(self._raw_from(loc), list):
            for k in range(len(sources)):
                self.positions[base + (kind, "from", k)] = loc + (0, k)
        self.positions[base + (kind, "repeat")] = loc + (1,)
        # Written arguments sit at their place in args; computed ones (c1, n) at args.
        written = self._written_positions(module, len(self._raw_args(loc)))
        for name, where in zip(names, written, strict=False):  # written lists spare () past the last name
            self.positions[base + (kind, name)] = loc + (3,) + where
            self.key_positions[base + (kind, name)] = loc + (3,) + where
        return kind, {kind: body}

    def _raw_from(self, loc: Loc) -> Any:
        part, j = loc
        return self.data[part][j][0]

    def _raw_args(self, loc: Loc) -> list[Any]:
        part, j = loc
        return self.data[part][j][3]

    def _written_positions(self, module: str, count: int) -> list[tuple]:
        """For each native argument, its index in the row's written args (or () for a
        computed one), following the rewriting above."""
        if module in NATIVE or module in HEADS:
            return [(k,) for k in range(count)] + [()] * 3
        if module in ("Depth", "SemanticSegment"):
            return [(0,), ()]
        if module == "CBLinear" or module == "AIFI":
            return [()] + [(k,) for k in range(count)]
        if module in ("ImagePoolingAttn", "RTDETRDecoder"):
            return [(0,), ()] + [(k,) for k in range(1, count)]
        if module == "HGStem":
            return [(), (0,), (1,)]
        if module == "HGBlock":
            return [(), (0,), (1,), (2,), ()] + [(k,) for k in range(3, count)]
        if module in BASE:
            written = [(), (0,)] + [(k,) for k in range(1, count)]
            if module in REPEAT:
                written.insert(2, ())
            return written
        return [(k,) for k in range(count)]


def _native(value: Any) -> Any:
    """A value as a native spec writes it (tuples as lists)."""
    if isinstance(value, tuple):
        return [_native(v) for v in value]
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value
