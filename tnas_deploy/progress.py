"""Progress bars for long work, all made here.

tqdm's default lock is a multiprocessing RLock, and creating it fixes multiprocessing's start method;
Lava then fails at import (it calls `set_start_method('fork')` itself). Giving tqdm a thread lock before
any bar exists avoids that, so every bar in tnas-deploy comes from `progress_bar`.
"""
from __future__ import annotations

import sys
import threading

from tqdm import tqdm

tqdm.set_lock(threading.RLock())


def progress_bar(total: int, desc: str, enabled: bool = True) -> tqdm:
    """A per-sample bar on stderr; shown only when `enabled` and stderr is a terminal; cleared when done."""
    return tqdm(total=total, unit="sample", desc=desc, file=sys.stderr, disable=None if enabled else True,
                leave=False)
