# Setup. Outside this repository (e.g. on Colab) this installs the book's library and the
# chapters' extras from GitHub; in the repository (`pip install -r requirements.txt`) it does nothing.
import importlib.util
if importlib.util.find_spec("camwalls_lib") is None:
    %pip install -q "camwalls[book] @ git+https://github.com/camwalls/camwalls"
    importlib.invalidate_caches()
    if importlib.util.find_spec("camwalls_lib") is None:
        raise ImportError("Installing camwalls failed (pip's message is above): check the "
                          "network connection, then run this cell again.")
