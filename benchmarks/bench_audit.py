"""CPU seconds per packet of the privacy audit and the XLSX appendix (issue 17).

Run in a demo's output folder (``acm demo --period 2026-10`` made ``data/homeless_demo`` and
``outputs/2026-10/<provider>/``). For each provider, as the batch worker does after its first
packet (the store's truth and client ids already read): ``audit_facts.facts_for``,
``audit.check_files`` on the packet's HTML and XLSX, the appendix build and its write. Prints
the mean CPU seconds (``time.process_time``: the machine is shared, wall time means little) and
the findings per provider.
Usage: ``python benchmarks/bench_audit.py [PROGRAM_YAML] [PERIOD] [DATA_DIR] [OUTPUTS]``
(defaults: ``parameters/program.yaml``, ``2026-10``, ``data/homeless_demo``, ``outputs``; e.g.
``benchmarks/_work/bench_run/store benchmarks/_work/bench_run/acm-fork-nopdf`` after
``bench_run.py``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from acm_helpers.core.calendar import equity_quarter
from acm_helpers.core.config import load_program
from acm_helpers.packets import audit, audit_facts
from acm_helpers.packets import render as report
from acm_helpers.packets.appendices import appendix_builder
from acm_helpers.store.store import Store


def main(
    program_path: str, period: str, data_dir: str = "data/homeless_demo", outputs: str = "outputs"
) -> None:
    """Time each stage twice per provider and print the second (warm) round's means."""
    program = load_program(program_path)
    store = Store(data_dir)
    truth = store.suppressed_truth()
    providers = [p.id for p in program.providers if (Path(outputs) / period / p.id).exists()]
    cpu = {"facts": [], "check": [], "build": [], "write": []}
    out = Path(tempfile.mkdtemp())
    for warm in (False, True):
        for pid in providers:
            d = Path(outputs) / period / pid
            params = {
                "audience": "provider",
                "data_dir": data_dir,
                "period": period,
                "program_path": program_path,
                "provider": pid,
                "topic": "",
            }
            t = [time.process_time()]
            facts = audit_facts.facts_for(
                program, store, pid, period, truth=truth, equity_period=equity_quarter(period)
            )
            t.append(time.process_time())
            findings = audit.check_files([d / "packet.html", d / "appendix.xlsx"], facts)
            t.append(time.process_time())
            sheets, notes = appendix_builder("provider")(program, store, params)
            t.append(time.process_time())
            report.write_xlsx(out / f"{pid}.xlsx", sheets, notes=notes)
            t.append(time.process_time())
            if warm:
                for k, a, b in zip(cpu, t, t[1:], strict=False):
                    cpu[k].append(b - a)
                print(f"{pid}: {len(findings)} finding(s)")
    mean = {k: sum(v) / len(v) for k, v in cpu.items()}
    print(", ".join(f"{k} {v:.3f}" for k, v in mean.items()), "s CPU per packet")
    print(
        f"audit {mean['facts'] + mean['check']:.3f} s CPU, "
        f"XLSX {mean['build'] + mean['write']:.3f} s CPU per packet"
    )


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "parameters/program.yaml",
        sys.argv[2] if len(sys.argv) > 2 else "2026-10",
        *sys.argv[3:5],
    )
