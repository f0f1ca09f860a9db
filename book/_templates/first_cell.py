# Setup. Outside this repository (e.g. on Colab) this installs the book's library with what
# this chapter needs (its extra, "ch-GROUP"); in the repository it does nothing.
import importlib.util
if importlib.util.find_spec("camwalls_lib") is None:
    import subprocess, sys
    package = "camwalls[ch-GROUP] @ git+https://github.com/camwalls/camwalls"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", package],
                         capture_output=True, text=True)
    importlib.invalidate_caches()
    if pip.returncode != 0 or importlib.util.find_spec("camwalls_lib") is None:
        said = (pip.stdout + pip.stderr).strip().splitlines()
        cause = [line for line in said if line.lstrip().startswith(("ERROR", "error", "fatal"))]
        raise ImportError(f"pip could not install {package}; what it said:\n  "
                          + "\n  ".join((cause or said or ["(nothing)"])[-12:]))
