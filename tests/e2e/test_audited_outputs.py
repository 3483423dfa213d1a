"""Provider-audience deep dives (every roadmap topic) and the provider-audience contract report
are leak-checked like packets, differencing check included, where they are written: a clean one
is published, a leaking one is not and its error names the cell. Starts kernels."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from acm_helpers.batch import run as batch
from acm_helpers.core.errors import PrivacyError
from acm_helpers.meetings.context import TOPICS
from acm_helpers.packets import contract
from acm_helpers.store.store import Store

PERIOD = "2026-10"

pytestmark = pytest.mark.slow


def test_every_deep_dive_topic_for_a_provider_is_audited_and_published(
    demo_store, program, program_path, tmp_path
):
    jobs = batch.deep_dive_jobs(
        program,
        PERIOD,
        program_path=program_path,
        data_dir=demo_store.root,
        providers=["cascade"],
        topics=TOPICS,
    )
    assert {j.params["topic"] for j in jobs} == set(TOPICS)
    assert all(j.audience == "provider" and j.appendix is None for j in jobs)
    settings = batch.Settings(
        program_path=str(program_path),
        data_dir=str(demo_store.root),
        pdf=False,
        period_dir=str(tmp_path / "outputs" / PERIOD),
        executor=batch.warm_executor([batch.DEEP_DIVE]),
    )
    manifest = batch.run(jobs, settings, workers=2, progress=False)
    for entry in manifest.packets:
        assert entry["status"] == "ok", (entry["key"], entry["error"])
        assert entry["audit"] == {"checked": ["html"], "findings": []}, entry["key"]
        page = tmp_path / "outputs" / PERIOD / entry["key"] / "deep_dive.html"
        assert f'data-topic="{entry["parameters"]["topic"]}"' in page.read_text()


def test_the_provider_contract_report_is_audited_then_published(demo_store, program_path, tmp_path):
    out = tmp_path / "report"
    result = contract.render_report(
        program_path,
        provider="harbor",
        data_dir=demo_store.root,
        out_dir=out,
        audience="provider",
        pdf=False,
    )
    assert result.html == out / "report.html" and result.html.exists()
    assert "audit" in result.timings
    assert not list(tmp_path.glob(".staging-*"))  # the staging folder is gone


def test_a_leaking_contract_report_is_not_published_and_names_the_cell(
    demo_store, program_path, tmp_path
):
    """Plant a leak the audit must see: the truth table says harbor's term value of exits to
    permanent housing is suppressed, while the report prints it."""
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root)
    store = Store(root)
    mv = store.read_table("metric_values")
    shown = mv[
        (mv["provider_id"] == "harbor")
        & (mv["metric_id"] == "exits_to_permanent_housing")
        & (mv["grain"] == "term")
        & (mv["dimension"] == "")
    ]
    assert len(shown) == 1 and not shown["suppressed"].iloc[0]
    truth = store.suppressed_truth()
    planted = shown[[c for c in truth.columns if c in shown.columns]].assign(
        suppression_reason="planted"
    )
    store.write_table("suppressed_truth", pd.concat([truth, planted], ignore_index=True))
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("an earlier report")
    with pytest.raises(PrivacyError, match="Exits to permanent housing") as err:
        contract.render_report(
            program_path,
            provider="harbor",
            data_dir=root,
            out_dir=out,
            audience="provider",
            pdf=False,
        )
    assert "not published" in str(err.value)
    assert not (out / "report.html").exists()  # nothing (and no stale report) to send
