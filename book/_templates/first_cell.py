# Setup. Outside this repository (e.g. on Colab) this installs the book's library and the
# chapters' extras from GitHub; in the repository (`pip install -r requirements.txt`) it does nothing.
import importlib.util
if importlib.util.find_spec("camwalls_lib") is None:
    %pip install -q "camwalls[book] @ git+https://github.com/camwalls/camwalls"
    importlib.invalidate_caches()
