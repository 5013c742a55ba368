"""The encoder libraries' own option lists (`x264-params: "keyint=60:bframes=3"` and the like),
read the way ffmpeg and then the library read them, and checked against an allow-list.

A list option is split as ffmpeg splits it (ffwatt/runner/plan/ffmpeg_syntax.py: quotes and
backslashes undone, each library's separator), then each name is turned into the name the library
will look up (x264 and x265 read `_` as `-` and a `no`/`no-` prefix as "false"; x265 also drops a
leading `--`; kvazaar drops `no-`), and that name must be on the library's list of settings that
only tune the encoder: every other name is refused by name, known or not, because a name this
list does not know may open a file (x264 `dump-yuv`, `stats`, `cqm`, `log-file`, `opencl-clbin`,
`pass`; x265 `csv`, `analysis-save`, `scaling-list`, `film-grain`, `zonefile`; kvazaar `cqmfile`,
`roi`; SVT-AV1 `stat-file`, `fgs-table`; aom `film-grain-table`, `partition-info-path`,
`vmaf-model-path`...). A name or value in which a quote or backslash survives ffmpeg's tokenising
is refused too (the library could read it again).

Which option holds which library's list, and how ffmpeg hands it over (followed: FFmpeg's
libavcodec/libx264.c, libx265.c, libkvazaar.c, libsvtav1.c, libaomenc.c; the names each library
looks up: x264 common/base.c `x264_param_parse`, x265 source/common/param.cpp `x265_param_parse`,
kvazaar src/cfg.c `kvz_config_parse`, SVT-AV1 `svt_av1_enc_parse_parameter`, libaom
av1/av1_cx_iface.c `encoder_set_option`):

| option | split | library names |
|---|---|---|
| `x264-params` | `av_dict_parse_string(":")` | x264 |
| `x264opts` | `sscanf("%[^:=]=%[^:]")` at each `:`, no quoting | x264 |
| `x265-params` | `av_dict_parse_string(":")` | x265 |
| `kvazaar-params` | `av_dict_parse_string(",")` | kvazaar |
| `svtav1-params` | `av_dict_parse_string(":")` | SVT-AV1 |
| `aom-params` | `av_dict_parse_string(":")` | libaom |

Any other `*-params`, `*-parameters` or `*opts` option (rav1e, vvenc, xavs2, libvpx ts-parameters)
is refused whole: how its library reads it is not mirrored here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ffwatt.runner.plan.ffmpeg_syntax import dict_pairs, x264opts_pairs

__all__ = ["LIBRARY_LISTS", "LibraryList", "param_list_problems", "UNPARSED_LIST"]

# names ffwatt refuses to parse at all (rav1e-params, vvenc-params, ts-parameters, x265opts...)
UNPARSED_LIST = re.compile(r"(-params|-parameters|opts)$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_QUOTES = re.compile(r"['\"\\]")

# x264 common/base.c x264_param_parse: none of these reads or writes a file. Left out on purpose:
# cqm (a file unless flat/jvt), cqmfile, dump-yuv, log-file, stats, pass (writes x264_2pass.log),
# opencl (caches kernels in a file), opencl-clbin, zones (a list of its own).
_X264 = frozenset("""
threads lookahead-threads sliced-threads sync-lookahead deterministic n-deterministic cpu-independent
level level-idc bluray-compat avcintra-class avcintra-flavor sar overscan videoformat fullrange colorprim
transfer colormatrix chromaloc mastering-display cll alternative-transfer fps ref frameref dpb-size keyint
min-keyint keyint-min scenecut intra-refresh bframes b-adapt b-bias b-pyramid open-gop nf filter deblock
slice-max-size slice-max-mbs slice-min-mbs slices slices-max cabac cabac-idc interlaced tff bff
constrained-intra log analyse partitions 8x8dct weightb weight-b weightp direct direct-pred chroma-qp-offset
me merange me-range mvrange mv-range mvrange-thread mv-range-thread subme subq psy-rd psy chroma-me mixed-refs
trellis fast-pskip dct-decimate deadzone-inter deadzone-intra nr bitrate qp qp-constant crf crf-max
rc-lookahead qpmin qp-min qpmax qp-max qpstep qp-step ratetol vbv-maxrate vbv-bufsize vbv-init ipratio
ip-factor pbratio pb-factor aq-mode aq-strength qcomp mbtree qblur cplxblur cplx-blur crop-rect psnr ssim aud
sps-id global-header repeat-headers annexb force-cfr nal-hrd filler pic-struct fake-interlaced frame-packing
stitchable
""".split())

# x265 param.cpp x265_param_parse. Left out: csv, csv-log-level, analysis-save, analysis-load,
# analysis-reuse-file, analysis-*-reuse-level, scaling-list (a file unless off/default), lambda-file,
# qpfile, zonefile, zones, dolby-vision-rpu, dhdr10-info, film-grain, aom-film-grain, recon, pass,
# stats, hist-threshold (and every name not listed).
_X265 = frozenset("""
frame-threads pmode pme wpp ctu min-cu-size max-tu-size tu-intra-depth tu-inter-depth limit-tu me subme
merange rect amp max-merge temporal-mvp early-skip rskip fast-intra b-intra cu-lossless tskip tskip-fast
strong-intra-smoothing constrained-intra open-gop keyint min-keyint scenecut scenecut-bias hist-scenecut
rc-lookahead lookahead-slices lookahead-threads bframes bframe-bias b-adapt b-pyramid ref limit-refs
limit-modes weightp weightb rd rdoq-level rd-refine psy-rd psy-rdoq aq-mode aq-strength aq-motion qg-size
cutree bitrate crf crf-max crf-min qp vbv-maxrate vbv-bufsize vbv-init vbv-end qpmin qpmax qpstep ipratio
pbratio qcomp cbqpoffs crqpoffs nr-intra nr-inter deblock sao sao-non-deblock selective-sao signhide sar
overscan videoformat range colorprim transfer colormatrix chromaloc master-display max-cll hdr10 hdr10-opt
hrd info hash temporal-layers aud repeat-headers annexb slices level-idc high-tier uhd-bd frame-dup
""".split())

# kvazaar cfg.c kvz_config_parse. Left out: cqmfile, roi, fast-coeff-table, fastrd-*, and every name not
# listed (debug and statistics outputs, width/height/input-* which change what is encoded).
_KVAZAAR = frozenset("""
preset qp period vps-period ref deblock sao rdoq rdoq-skip signhide smp amp rd full-intra-search transform-skip
tr-depth-intra me subme mv-rdo mv-constraint sar overscan videoformat range colorprim transfer colormatrix
chromaloc aud tiles tiles-width-split tiles-height-split wpp owf slices threads cpuid pu-depth-inter
pu-depth-intra info gop bipred bitrate cu-split-termination me-early-termination intra-rdo-et early-skip
fast-residual-cost max-merge tmvp open-gop vaq level high-tier
""".split())

# SVT-AV1 svt_av1_enc_parse_parameter. Left out: stat-file, fgs-table, pass/passes (stats files),
# enable-stat-report, and every name not listed.
_SVTAV1 = frozenset("""
preset crf qp rc tbr mbr keyint irefresh-type lookahead scd tune film-grain film-grain-denoise enable-overlays
enable-tf tf-strength enable-cdef enable-restoration enable-dlf enable-variance-boost variance-boost-strength
variance-octile sharpness enable-qm qm-min qm-max chroma-qm-min chroma-qm-max aq-mode hierarchical-levels
pred-struct tile-rows tile-columns fast-decode lp level profile color-primaries transfer-characteristics
matrix-coefficients color-range chroma-sample-position mastering-display content-light enable-hdr scm max-qp
min-qp buf-sz buf-initial-sz buf-optimal-sz undershoot-pct overshoot-pct recode-loop bias-pct minsection-pct
maxsection-pct luminance-qp-bias startup-mg-size
""".split())

# libaom av1_cx_iface.c encoder_set_option (the av1 arg defs). Left out: film-grain-table,
# partition-info-path, vmaf-model-path, subgop-config-path, rate-distribution-info,
# enable-rate-guide-deltaq, second-pass-log, fwd-kf-dist-*, and every name not listed.
_AOM = frozenset("""
cpu-used tune tune-content row-mt tile-columns tile-rows enable-cdef enable-restoration enable-tpl-model
enable-fwd-kf kf-min-dist kf-max-dist sharpness static-thresh noise-sensitivity arnr-maxframes arnr-strength
aq-mode deltaq-mode deltaq-strength enable-chroma-deltaq cq-level max-intra-rate max-inter-rate gf-cbr-boost
lossless enable-qm qm-min qm-max frame-parallel error-resilient coeff-cost-upd-freq mode-cost-upd-freq
mv-cost-upd-freq min-gf-interval max-gf-interval gf-min-pyr-height gf-max-pyr-height lag-in-frames
enable-keyframe-filtering enable-dual-filter enable-intrabc enable-palette enable-overlay enable-global-motion
enable-warped-motion enable-obmc enable-ref-frame-mvs reduced-tx-type-set enable-interintra-comp
enable-masked-comp enable-onesided-comp enable-diff-wtd-comp enable-dist-wtd-comp enable-smooth-interintra
enable-interinter-wedge enable-interintra-wedge enable-flip-idtx enable-tx64 enable-rect-tx
enable-1to4-partitions enable-ab-partitions enable-rect-partitions min-partition-size max-partition-size
enable-angle-delta enable-filter-intra enable-intra-edge-filter enable-smooth-intra enable-paeth-intra
enable-cfl-intra enable-diagonal-intra enable-directional-intra denoise-noise-level denoise-block-size
cdf-update-mode sb-size color-primaries transfer-characteristics matrix-coefficients chroma-sample-position
enable-order-hint quant-b-adapt
""".split())


def _x264_name(name: str) -> str:
    """x264_param_parse: `_` -> `-`, then a leading `no` (and one `-` after it) makes it "false"."""
    name = name.replace("_", "-")
    if name.startswith("no"):
        name = name[2:]
        name = name[1:] if name.startswith("-") else name
    return name


def _x265_name(name: str) -> str:
    """x265_param_parse: a leading `--` dropped, `_` -> `-` (names under 64 characters), then `no-` or `no`."""
    name = name[2:] if name.startswith("--") else name
    name = name.replace("_", "-") if len(name) < 63 else name
    for prefix in ("no-", "no"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _kvazaar_name(name: str) -> str:
    """kvz_config_parse: only `no-` is read as "false"."""
    return name[3:] if name.startswith("no-") else name


@dataclass(frozen=True)
class LibraryList:
    """One option holding a library's list: how ffmpeg splits it, how the library reads a name, and
    the names allowed."""

    library: str
    split: Callable[[str], list[tuple[str, str]]]
    library_name: Callable[[str], str]
    allowed: frozenset[str]


LIBRARY_LISTS: dict[str, LibraryList] = {
    "x264-params": LibraryList("x264", dict_pairs, _x264_name, _X264),
    "x264opts": LibraryList("x264", x264opts_pairs, _x264_name, _X264),
    "x265-params": LibraryList("x265", dict_pairs, _x265_name, _X265),
    "kvazaar-params": LibraryList("kvazaar", lambda text: dict_pairs(text, ","), _kvazaar_name, _KVAZAAR),
    "svtav1-params": LibraryList("SVT-AV1", dict_pairs, str, _SVTAV1),
    "aom-params": LibraryList("libaom", dict_pairs, str, _AOM),
}


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def param_list_problems(key: str, value: str) -> list[str]:
    """Why `key: value` (an option holding a library's list) may not be passed: each pair refused by name,
    as the library would read it. [] when every pair is allowed (or `key` holds no list)."""
    spec = LIBRARY_LISTS.get(key)
    if spec is None:
        if UNPARSED_LIST.search(key):
            return [f"refused: -{key} holds an encoder library's own option list, and ffwatt does not know how that "
                    f"library reads it (lists it checks: {', '.join(LIBRARY_LISTS)})"]
        return []
    try:
        pairs = spec.split(value)
    except ValueError as exc:
        return [f"refused: ffmpeg cannot split {_shown(value)} as -{key} ({exc})"]
    problems = []
    for name, item in pairs:
        if _QUOTES.search(name) or _QUOTES.search(item):
            problems.append(f"refused: {_shown(name)}={_shown(item)}: a quote or backslash is left after ffmpeg's "
                            f"own quoting (ffmpeg reads {_shown(value)} as {name}={item})")
            continue
        read_as = spec.library_name(name) if _PLAIN_NAME.match(name) else None
        if read_as not in spec.allowed:
            seen = f" (read by {spec.library} as {read_as!r})" if read_as and read_as != name else ""
            problems.append(f"refused: {_shown(name)}{seen} is not one of the {spec.library} settings ffwatt allows; "
                            "the others may read or write a file (docs/scenarios.md, \"Encoder options\")")
    return problems
