"""The population report as a PNG: age pyramid against the country's reference, and top places against their
population share. The only module that imports matplotlib (Agg backend, no display)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

from anyascii import anyascii

from azt3knet_pipeline.domain.generation import stream_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.domain.report import PopulationReport, describe
from azt3knet_pipeline.private_files import ensure_private_dir, write_private


def population_report(spec: PopulationSpec, key: str) -> PopulationReport:
    """Generate (streamed) and describe the population `spec` names under `key`."""
    return describe(spec, key, stream_population(spec, key).chunks())


def _import_pyplot(home: Path) -> Any:
    """pyplot on the Agg backend, its font cache and config under AZT3KNET_HOME (private), never in $HOME/.cache or
    .config. MPLCONFIGDIR is set only while matplotlib first imports (it resolves the folders once, then caches
    them), so the process environment is left as it was."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = str(ensure_private_dir(home / "cache" / "matplotlib"))
        try:
            return _import_pyplot_now()
        finally:
            os.environ.pop("MPLCONFIGDIR", None)
    return _import_pyplot_now()


def _import_pyplot_now() -> Any:
    # matplotlib is imported only when a plot is drawn: it is slow to import and MPLCONFIGDIR must be set first.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    matplotlib.get_configdir()  # resolved (and cached) now, while MPLCONFIGDIR says where
    matplotlib.get_cachedir()
    return pyplot


def render_png(report: PopulationReport, top: int = 12, *, home: Path) -> bytes:
    """The report's plot as PNG bytes (`home`: AZT3KNET_HOME, where matplotlib keeps its cache)."""
    plt = _import_pyplot(home)

    fig, (pyramid, places) = plt.subplots(1, 2, figsize=(12, 5.5), dpi=100)
    try:
        bands = report.age_bands
        labels = [f"{int(b['band'])}-{int(b['band']) + 4}" for b in bands]
        y = range(len(bands))
        pyramid.barh(y, [-b["sample_male"] for b in bands], color="#4c78a8", alpha=0.7, label="male (sample)")
        pyramid.barh(y, [b["sample_female"] for b in bands], color="#e45756", alpha=0.7, label="female (sample)")
        pyramid.step([-b["reference_male"] for b in bands], y, where="mid", color="black", label="WPP 2024 reference")
        pyramid.step([b["reference_female"] for b in bands], y, where="mid", color="black")
        pyramid.set_yticks(list(y), labels, fontsize=7)
        pyramid.set_title(f"age pyramid ({report.country}, TV distance {report.age_tv_distance:.4f})")
        pyramid.legend(fontsize=7, loc="lower right")
        rows = report.places[:top]
        x = range(len(rows))
        places.bar([i - 0.2 for i in x], [r["sample_share"] for r in rows], width=0.4, label="sample share")
        places.bar([i + 0.2 for i in x], [r["population_share"] for r in rows], width=0.4, label="population share")
        # Place names may be in any script; the default font may lack glyphs, so label with ASCII transliterations.
        places.set_xticks(list(x), [anyascii(str(r["name"]))[:14] for r in rows], rotation=60, fontsize=7)
        rho = report.places_spearman_top50
        places.set_title("top places" + (f" (Spearman top 50: {rho:.3f})" if rho is not None else ""))
        places.legend(fontsize=7)
        fig.suptitle(
            f"population {report.key}: {report.count} agents, generator v{report.generator_version}; "
            f"addresses from names {report.addresses_from_names:.1%}",
            fontsize=9,
        )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def report_path(home: Path, key: str) -> Path:
    """Where the report PNG of population `key` is written: `$AZT3KNET_HOME/reports/KEY.png`."""
    return home / "reports" / f"{key}.png"


def write_png(report: PopulationReport, path: Path, *, home: Path) -> Path:
    """Write the plot (0600 in a 0700 folder made if missing, never through a link; a previous plot is replaced)."""
    ensure_private_dir(path.parent)
    return write_private(path, render_png(report, home=home), replace=True)
