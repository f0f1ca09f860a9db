"""The wall explorer for a page without a kernel: every frame of a :class:`~.frames.Sweep`
in one self-contained HTML element.

:func:`explorer_html` packs every tile (digits, dead zones, maps: ``28 x 28`` grey levels)
into one PNG, writes an index of the frames (μ, the constant map's μ, predictions,
accuracies) as JSON, and adds a short inline script that draws the chosen frame on two
canvases: the digit with its dead zone in red, and the chosen method's map over it with the
dead zone outlined. Controls: digit, method, trained or not, wall height, wall position, a
second digit behind the wall. No library and no network: it works in a static page, offline.
"""

from __future__ import annotations

import base64
import html
import io
import json

import matplotlib
import numpy as np
import torch
from PIL import Image

from .. import cams
from .figures import SALIENCY_CMAP
from .sweep import Sweep

__all__ = ["explorer_html", "frame_key", "TILE", "MODE_LABELS"]

TILE = 28
MODE_LABELS = {"init": "at initialisation", "trained": "trained"}


def frame_key(mode: str, wall: int, stacked: bool) -> str:
    """The JSON key of a frame: ``"mode/wall index/0 or 1"``."""
    return f"{mode}/{wall}/{int(stacked)}"


class _Tiles:
    """``28 x 28`` grey tiles collected in order, then laid out in one PNG."""

    def __init__(self, cols: int = 64):
        self.cols, self.tiles = cols, []

    def add(self, a: torch.Tensor) -> int:
        """Add ``a [28, 28]`` in [0, 1]; returns its index."""
        if tuple(a.shape) != (TILE, TILE):
            raise ValueError(f"A tile is [{TILE}, {TILE}], got {tuple(a.shape)}.")
        self.tiles.append((a.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        return len(self.tiles) - 1

    def png_base64(self) -> str:
        rows = -(-len(self.tiles) // self.cols)
        sheet = np.zeros((rows * TILE, self.cols * TILE), np.uint8)
        for i, t in enumerate(self.tiles):
            r, c = divmod(i, self.cols)
            sheet[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = t
        buf = io.BytesIO()
        Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
        return base64.b64encode(buf.getvalue()).decode("ascii")


def _dead_rows(zone: torch.Tensor):
    rows = torch.nonzero(zone.all(1)).flatten().tolist()
    return [rows[0], rows[-1]] if rows else None


def _index(sweep: Sweep) -> dict:
    """Everything the script needs, tiles packed in one PNG (base64)."""
    tiles = _Tiles()
    walls = [{"h": h, "s": s, "zone": tiles.add(sweep.zones[(h, s)].float()),
              "area": round(float(sweep.zones[(h, s)].float().mean()), 4),
              "base": round(sweep.baselines[(h, s)], 2),
              "rows": _dead_rows(sweep.zones[(h, s)])} for h, s in sweep.walls]
    images, ink, frames = {}, {}, {}
    for w, wall in enumerate(sweep.walls):
        for st in sweep.stacked:
            images[f"{w}/{int(st)}"] = [tiles.add(x) for x in sweep.images[(wall, st)]]
            ink[f"{w}/{int(st)}"] = [round(float(v), 2) for v in sweep.ink_mu[(wall, st)]]
            for mode in sweep.modes:
                key = (mode, wall, st)
                acc = sweep.accuracy[(mode, wall)]
                frames[frame_key(mode, w, st)] = {
                    "acc": None if acc is None else round(100 * acc, 1),
                    "pred": [int(p) for p in sweep.predictions[key]],
                    "mu": {m: [round(float(v), 2) for v in sweep.mu[key][m]] for m in sweep.methods},
                    "maps": {m: [tiles.add(s) for s in sweep.maps[key][m]] for m in sweep.methods}}
    lut = (matplotlib.colormaps[SALIENCY_CMAP](np.linspace(0, 1, 256))[:, :3] * 255).round()
    return {"tile": TILE, "cols": tiles.cols, "sprite": tiles.png_base64(),
            "lut": lut.astype(int).tolist(), "labels": [int(y) for y in sweep.labels],
            "methods": [[m, cams.LABELS[m]] for m in sweep.methods],
            "modes": [[m, MODE_LABELS[m]] for m in sweep.modes],
            "stacked": [bool(s) for s in sweep.stacked], "walls": walls, "images": images,
            "ink": ink, "frames": frames}


def _options(pairs, selected=None) -> str:
    return "".join(f'<option value="{html.escape(str(v))}"{" selected" if v == selected else ""}>'
                   f"{html.escape(str(t))}</option>" for v, t in pairs)


def _controls(d: dict, heights: list[int], height: int) -> str:
    digits = _options([(i, f"a {y}") for i, y in enumerate(d["labels"])])
    methods = _options(d["methods"])
    modes = "".join(f'<label><input type="radio" name="mode" value="{m}"'
                    f'{" checked" if i == 0 else ""}> {html.escape(t)}</label> '
                    for i, (m, t) in enumerate(d["modes"]))
    hs = _options([(h, f"{h} pooled rows") for h in heights], height)
    stack = ('<label><input type="checkbox" name="stacked"> a second digit of the same class '
             'behind the wall</label>') if True in d["stacked"] else ""
    return (f'<form class="cw-controls" onsubmit="return false">'
            f'<label>digit <select name="digit">{digits}</select></label>'
            f'<label>method <select name="method">{methods}</select></label>'
            f'<span class="cw-group">network: {modes}</span>'
            f'<label>wall height <select name="height">{hs}</select></label>'
            f'<label class="cw-wide">wall position <input type="range" name="start" min="0" '
            f'max="0" value="0" aria-label="first walled row"> <output name="where"></output>'
            f'</label>{stack}</form>')


_STYLE = """<style>
.cw-explorer{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:1em 0;max-width:100%;box-sizing:border-box}
.cw-explorer *{box-sizing:border-box}
.cw-controls{display:flex;flex-wrap:wrap;gap:.5em 1.2em;align-items:center;margin-bottom:.8em}
.cw-controls label{white-space:nowrap}
.cw-controls .cw-wide{flex:1 1 16em;display:flex;align-items:center;gap:.5em;white-space:normal}
.cw-controls input[type=range]{flex:1 1 8em;min-width:6em}
.cw-controls select{font-size:inherit;max-width:100%}
.cw-group{display:inline-flex;flex-wrap:wrap;gap:.2em .8em}
.cw-panels{display:flex;flex-wrap:wrap;gap:.8em}
.cw-panel{flex:1 1 150px;max-width:320px;margin:0}
.cw-panel canvas{width:100%;height:auto;display:block;image-rendering:pixelated}
.cw-cap{font-size:.95em;margin:.3em 0}
.cw-cbar{height:.8em;border:1px solid #888}
.cw-cbar-labels{display:flex;justify-content:space-between;font-size:.85em}
.cw-readout{margin:.8em 0 .4em}
.cw-table{border-collapse:collapse;font-size:.95em}
.cw-table td,.cw-table th{padding:.1em .8em .1em 0;text-align:left}
.cw-table tr.cw-on td{font-weight:bold}
</style>"""

_SCRIPT = """<script>
(function () {
  var root = document.currentScript.parentElement;
  var D = JSON.parse(root.querySelector('script.cw-data').textContent);
  var form = root.querySelector('form'), T = D.tile, px = null;
  var pct = function (x) { return (100 * x).toFixed(0) + ' %'; };
  function tile(i) {
    var W = D.cols * T, x0 = (i % D.cols) * T, y0 = Math.floor(i / D.cols) * T;
    var out = new Float32Array(T * T);
    for (var y = 0; y < T; y++) for (var x = 0; x < T; x++)
      out[y * T + x] = px[((y0 + y) * W + x0 + x) * 4] / 255;
    return out;
  }
  function paint(canvas, img, zone, map) {
    var g = canvas.getContext('2d'), s = canvas.width / T, small = document.createElement('canvas');
    small.width = small.height = T;
    var sg = small.getContext('2d'), id = sg.createImageData(T, T);
    for (var i = 0; i < T * T; i++) {
      var v = 255 * img[i], c = [v, v, v];
      if (map) { var m = D.lut[Math.round(255 * map[i])];
        c = [0.45 * v + 0.55 * m[0], 0.45 * v + 0.55 * m[1], 0.45 * v + 0.55 * m[2]]; }
      else if (zone[i] > 0.5) c = [0.65 * v + 76, 0.65 * v + 9, 0.65 * v + 9];
      id.data[4 * i] = c[0]; id.data[4 * i + 1] = c[1]; id.data[4 * i + 2] = c[2]; id.data[4 * i + 3] = 255;
    }
    sg.putImageData(id, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(small, 0, 0, canvas.width, canvas.height);
    g.strokeStyle = 'rgb(217,26,26)'; g.lineWidth = 3; g.beginPath();
    var dead = function (y, x) { return y >= 0 && x >= 0 && y < T && x < T && zone[y * T + x] > 0.5; };
    for (var y = 0; y < T; y++) for (var x = 0; x < T; x++) if (dead(y, x)) {
      if (!dead(y - 1, x)) { g.moveTo(x * s, y * s); g.lineTo((x + 1) * s, y * s); }
      if (!dead(y + 1, x)) { g.moveTo(x * s, (y + 1) * s); g.lineTo((x + 1) * s, (y + 1) * s); }
      if (!dead(y, x - 1)) { g.moveTo(x * s, y * s); g.lineTo(x * s, (y + 1) * s); }
      if (!dead(y, x + 1)) { g.moveTo((x + 1) * s, y * s); g.lineTo((x + 1) * s, (y + 1) * s); }
    }
    g.stroke();
  }
  function walls() {
    var h = +form.height.value, idx = [];
    D.walls.forEach(function (w, i) { if (w.h === h) idx.push(i); });
    return idx;
  }
  function draw() {
    var idx = walls(), r = form.start;
    if (+r.max !== idx.length - 1) { r.max = idx.length - 1; if (+r.value > +r.max) r.value = r.max; }
    var wi = idx[+r.value], w = D.walls[wi], d = +form.digit.value, method = form.method.value;
    var mode = form.querySelector('input[name=mode]:checked').value;
    var st = form.stacked && form.stacked.checked ? 1 : 0;
    var f = D.frames[mode + '/' + wi + '/' + st], label = D.labels[d];
    var name = D.methods.filter(function (m) { return m[0] === method; })[0][1];
    form.where.value = 'pooled rows ' + w.s + '\\u2013' + (w.s + w.h - 1) + ' of 12';
    var hidden = w.rows ? 'input rows ' + w.rows[0] + '\\u2013' + w.rows[1] : 'no whole input row';
    root.querySelector('.cw-input-cap').textContent = 'A ' + label + (st ? ', a second ' + label +
      ' behind the wall' : '') + '. In red: what the network cannot see (' + hidden + ', ' +
      pct(w.area) + ' of the image).';
    var mu = f.mu[method][d];
    root.querySelector('.cw-map-cap').textContent = name + ': \\u03bc = ' + mu.toFixed(2) +
      ' (a constant map: ' + w.base.toFixed(2) + ')';
    root.querySelector('.cw-readout').textContent = (f.acc === null
      ? 'Untrained network (its prediction, ' + f.pred[d] + ', is a guess).'
      : 'Trained network, walled here: it predicts ' + f.pred[d] + '; test accuracy ' +
        f.acc.toFixed(1) + ' %.') + ' \\u03bc of every method for this frame, of a map ' +
        'that ignores the image, and of the image itself taken as a map (a map that paints ' +
        'exactly the ink):';
    var rows = D.methods.map(function (m) {
      return '<tr' + (m[0] === method ? ' class="cw-on"' : '') + '><td>' + m[1] + '</td><td>' +
        f.mu[m[0]][d].toFixed(2) + '</td></tr>'; });
    rows.push('<tr><td><em>a constant map</em></td><td><em>' + w.base.toFixed(2) + '</em></td></tr>');
    rows.push('<tr><td><em>the image itself</em></td><td><em>' +
      D.ink[wi + '/' + st][d].toFixed(2) + '</em></td></tr>');
    root.querySelector('.cw-table tbody').innerHTML = rows.join('');
    if (!px) return;
    var img = tile(D.images[wi + '/' + st][d]), zone = tile(w.zone);
    var cv = root.querySelectorAll('canvas');
    paint(cv[0], img, zone, null);
    paint(cv[1], img, zone, tile(f.maps[method][d]));
    cv[0].setAttribute('aria-label', root.querySelector('.cw-input-cap').textContent);
    cv[1].setAttribute('aria-label', name + ' map over the digit, dead zone outlined in red; ' +
      root.querySelector('.cw-map-cap').textContent);
  }
  form.addEventListener('input', draw);
  form.addEventListener('change', draw);
  var sprite = new Image();
  sprite.onload = function () {
    var c = document.createElement('canvas'); c.width = sprite.width; c.height = sprite.height;
    var g = c.getContext('2d'); g.drawImage(sprite, 0, 0);
    px = g.getImageData(0, 0, c.width, c.height).data; draw();
  };
  sprite.src = 'data:image/png;base64,' + D.sprite;
  draw();
})();
</script>"""


def explorer_html(sweep: Sweep, height: int | None = None) -> str:
    """The static explorer over every frame of ``sweep``: one ``<div>`` with its controls,
    two canvases, μ beside the constant map's μ for every method, its data and its script.
    ``height``: the wall height selected first (default: the sweep's smallest)."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"explorer_html needs a frames.Sweep (WallLab.sweep), got "
                        f"{type(sweep).__name__}.")
    heights = sorted({h for h, _ in sweep.walls})
    height = heights[0] if height is None else height
    if height not in heights:
        raise ValueError(f"height must be one of the sweep's wall heights {heights}, got {height}.")
    d = _index(sweep)
    stops = ", ".join(f"rgb({r},{g},{b})" for r, g, b in d["lut"][::32] + [d["lut"][-1]])
    data = json.dumps(d, separators=(",", ":")).replace("</", "<\\/")
    panels = ('<div class="cw-panels">'
              '<div class="cw-panel"><canvas width="280" height="280" role="img" '
              'aria-label="a test digit, its dead zone tinted red"></canvas><p class="cw-cap cw-input-cap"></p></div>'
              '<div class="cw-panel"><canvas width="280" height="280" role="img" '
              'aria-label="the saliency map of the chosen method over the digit, dead zone outlined in red"></canvas><p class="cw-cap cw-map-cap"></p>'
              f'<div class="cw-cbar" style="background:linear-gradient(to right, {stops})"></div>'
              '<div class="cw-cbar-labels"><span>0</span><span>1</span></div>'
              '<p class="cw-cap" style="text-align:center;margin:0">saliency, min-max normalised'
              '</p></div></div>')
    return (f'<div class="cw-explorer">{_STYLE}{_controls(d, heights, height)}{panels}'
            '<p class="cw-readout"></p><table class="cw-table"><thead><tr><th>method</th>'
            '<th>μ</th></tr></thead><tbody></tbody></table>'
            f'<script type="application/json" class="cw-data">{data}</script>{_SCRIPT}</div>')
