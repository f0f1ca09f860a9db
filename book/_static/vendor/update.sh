#!/usr/bin/env bash
# Re-vendor the JavaScript the book needs to render offline (math + widgets).
# Run from anywhere; needs npm (the npm registry). The results are committed, so a
# normal build never runs this. Versions are pinned: bump them here and re-run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent mathjax@3.2.2 @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 >/dev/null
for f in *.tgz; do mkdir -p "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done

rm -rf "$here/mathjax" "$here/requirejs" "$here/jupyter-widgets"
mkdir -p "$here/mathjax" "$here/requirejs" "$here/jupyter-widgets"
# MathJax 3, TeX input + SVG output, every TeX extension bundled: one self-contained file,
# no web fonts and no lazily loaded components.
cp mathjax-3.2.2/package/es5/tex-svg-full.js mathjax-3.2.2/package/LICENSE "$here/mathjax/"
# RequireJS: the AMD loader the widget manager expects.
cp requirejs-2.3.8/package/require.js "$here/requirejs/"
# The ipywidgets 8 HTML manager: @jupyter-widgets/base and /controls are bundled in
# embed-amd.js; the .woff2 files are its Font Awesome icons, looked up next to the script.
hm=jupyter-widgets-html-manager-1.0.15/package
cp "$hm/dist/embed-amd.js" "$hm/dist/"*.woff2 "$here/jupyter-widgets/"
# provenance: each package.json names the version and the licence
cp mathjax-3.2.2/package/package.json "$here/mathjax/"
cp requirejs-2.3.8/package/package.json "$here/requirejs/"
cp "$hm/package.json" "$here/jupyter-widgets/"
ls -la "$here"/*/
