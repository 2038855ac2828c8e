import os
from pathlib import Path

# Robot models: the offline Menagerie copy beside the checkout (CI machines have no route to the download host).
if not os.environ.get("MENAGERIE_ROOT"):
    candidate = Path(__file__).resolve().parents[2] / "shared" / "menagerie"
    if candidate.is_dir():
        os.environ["MENAGERIE_ROOT"] = str(candidate)
