"""Deep-dive topics as ipywidgets: pick a metric, dimension, window... and the answer updates.

Why widgets in the package: analysts explore in JupyterLab with the same functions the packets
run, so what they see is what the meeting sees. Every control is a dropdown whose options are
the program's own ids (an allowlist: no typed text reaches a query), and the callback catches
only :class:`AcmError`, showing its message instead of a traceback.

The output is an ``HTML`` widget holding the topic's self-contained HTML (inline SVG charts), so
it renders with no network and its value can be read back in a test kernel.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from acm_helpers.core.errors import AcmError, UnknownIdError
from acm_helpers.meetings import deepdive
from acm_helpers.meetings.context import (
    CUTOFF_CHOICES,
    TOPICS,
    WINDOW_CHOICES,
    DeepDiveContext,
    default_metric,
    funnel_metric_id,
    roadmap_item,
)

# which options each topic takes (beyond the provider)
TOPIC_OPTIONS = {
    "disparity": ("metric", "dimension", "months"),
    "duration_outcome": ("metric", "cutoff_months", "months"),
    "referral_funnel": ("months",),
    "cohort_trend": ("metric", "change_month"),
    "peer_comparison": ("metric", "months"),
}


class Explorer(widgets.VBox):
    """Controls for one topic above its live result.

    Attributes:
        controls: option name -> Dropdown (``provider`` too, for internal audiences).
        output: the HTML widget showing the current result.
        message: an HTML widget showing an error message, empty when all is well.
        result: the latest :class:`TopicResult` (None after an error).
    """

    def __init__(self, ctx: DeepDiveContext, topic: str, **options):
        if topic not in TOPICS:
            raise UnknownIdError("topic", topic, list(TOPICS))
        self.ctx, self.topic, self.result = ctx, topic, None
        self.controls = _controls(ctx, topic, options)
        self.output = widgets.HTML()
        self.message = widgets.HTML()
        for control in self.controls.values():
            control.observe(self._update, names="value")
        bar = widgets.HBox(
            list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([bar, self.message, self.output])
        self._update()

    def options(self) -> dict:
        """The topic options currently selected (provider excluded)."""
        return {k: c.value for k, c in self.controls.items() if k != "provider"}

    def _update(self, change=None) -> None:
        ctx = self.ctx
        if "provider" in self.controls and self.controls["provider"].value != ctx.provider_id:
            ctx = ctx.with_(provider_id=self.controls["provider"].value)
        try:
            self.result = deepdive.run(ctx, self.topic, **self.options())
        except AcmError as exc:
            self.result = None
            self.message.value = (
                f'<p class="acm-error" style="color:#c0392b">{html.escape(str(exc))}</p>'
            )
            self.output.value = ""
            return
        self.message.value = ""
        self.output.value = self.result.to_html()


def _dropdown(description: str, options, value) -> widgets.Dropdown:
    return widgets.Dropdown(
        description=description,
        options=options,
        value=value,
        style={"description_width": "initial"},
    )


def _controls(ctx: DeepDiveContext, topic: str, given: dict) -> dict[str, widgets.Dropdown]:
    prog = ctx.program
    out: dict[str, widgets.Dropdown] = {}
    if ctx.audience == "internal":  # a provider-audience view stays on its own provider
        out["provider"] = _dropdown(
            "Provider", [(p.name, p.id) for p in prog.providers], ctx.provider_id
        )
    wanted = TOPIC_OPTIONS[topic]
    item = roadmap_item(prog, ctx.period, topic)
    if "metric" in wanted:
        kinds = (
            ("rate",)
            if topic == "duration_outcome"
            else ("rate", "median", "mean", "sum_ratio", "count")
        )
        choices = [(m.label, k) for k, m in prog.metrics.items() if m.kind in kinds]
        value = given.get("metric") or default_metric(prog, topic, ctx.period)
        if value not in dict((v, k) for k, v in choices):
            value = choices[0][1]
        out["metric"] = _dropdown("Metric", choices, value)
    if topic == "referral_funnel":
        given.setdefault("metric", funnel_metric_id(prog))
    if "dimension" in wanted:
        value = given.get("dimension") or (
            item.dimension if item and item.dimension else next(iter(prog.dimensions))
        )
        out["dimension"] = _dropdown(
            "Breakdown", [(d.label, k) for k, d in prog.dimensions.items()], value
        )
    if "cutoff_months" in wanted:
        out["cutoff_months"] = _dropdown(
            "Split at (months)", list(CUTOFF_CHOICES), given.get("cutoff_months", 3)
        )
    if "change_month" in wanted:
        months = [p for p in prog.periods() if prog.first_period < p <= ctx.period]
        value = given.get("change_month") or (
            item.change_month if item and item.change_month else months[len(months) // 2]
        )
        out["change_month"] = _dropdown("Change month", months, value)
    if "months" in wanted:
        out["months"] = _dropdown("Window (months)", list(WINDOW_CHOICES), given.get("months", 12))
    return out


def show(ctx: DeepDiveContext, topic: str | None = None, interactive: bool = False, **options):
    """The deep-dive notebook's one call: the topic's result, or its explorer when interactive.

    Why one call for both: the same notebook runs in the batch (static HTML via papermill) and in
    JupyterLab (widgets), switched by the ``interactive`` parameter.
    """
    topic = topic or (
        ctx.program.roadmap[ctx.period].topic if ctx.period in ctx.program.roadmap else None
    )
    if topic not in TOPICS:
        raise UnknownIdError("topic", topic, list(TOPICS))
    # The notebook passes every option; each topic takes only its own (empty means default).
    opts = {k: v for k, v in options.items() if k in TOPIC_OPTIONS[topic] and v not in (None, "")}
    if not interactive:
        return deepdive.run(ctx, topic, **opts)
    return Explorer(ctx, topic, **opts)
