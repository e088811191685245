"""The end-to-end benchmark's plot: accepted / sent / delivered / callbacks per second.

    python bench/plot.py bench/out/e2e-timeline.json bench/out/e2e-throughput.png

The timeline JSON is what ``bench/e2e.py`` writes: ``{"title": str, "series": {name:
{second: count}}}`` with seconds counted from the start of the load. matplotlib renders
off-screen (Agg), so it runs on a server without a display.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLOURS = {"accepted": "#1f77b4", "sent": "#ff7f0e", "delivered": "#2ca02c", "callbacks": "#d62728"}


def plot_timeline(timeline: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[Any, int]] = timeline["series"]
    end = max((int(s) for points in series.values() for s in points), default=0) + 1
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=120)
    for name, points in series.items():
        counts = [0] * end
        for second, n in points.items():
            if 0 <= int(second) < end:
                counts[int(second)] += n
        ax.plot(range(end), counts, label=name, color=COLOURS.get(name), linewidth=1.4)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("notifications per second")
    ax.set_title(timeline.get("title", "end-to-end throughput"), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/plot.py TIMELINE.json OUT.png")
    print(plot_timeline(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])))
